"""A hit: one heuristic's finding, a span of a part's text with a signal name and a strength in 0..1."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple

# Heuristics stop after this many hits per part: enough to flag it, bounded work on hostile input.
MAX_HITS = 256


class Hit(NamedTuple):
    start: int
    end: int
    signal: str
    strength: float


class Rule(NamedTuple):
    """A pattern, the strength of its hits, and its cues: lower-case words (or, for cues that are not words,
    substrings) of which one must occur for the pattern to match. Looking a word up in the text's set of words
    is far cheaper than a scan, and most texts hold none of a rule's cues."""

    pattern: re.Pattern[str]
    strength: float
    cues: tuple[str, ...]


class Cues(NamedTuple):
    """A text's lower-case form and the set of its words, for `Rule.cues`."""

    lowered: str
    words: frozenset[str]

    @classmethod
    def of(cls, text: str) -> Cues:
        lowered = text.lower()
        return cls(lowered, frozenset(_WORD.findall(lowered)))

    def any(self, cues: tuple[str, ...]) -> bool:
        for cue in cues:
            if cue in self.words if cue.isalpha() else cue in self.lowered:
                return True
        return False


_WORD = re.compile(r"[a-z]+")


def pattern_hits(text: str, cues: Cues, rules: Iterable[Rule], signal: str) -> Iterator[Hit]:
    """A hit for each match of each rule whose cues occur in the text."""
    for pattern, strength, rule_cues in rules:
        if not cues.any(rule_cues):
            continue
        for count, match in enumerate(pattern.finditer(text)):
            if count >= MAX_HITS:
                break
            yield Hit(match.start(), match.end(), signal, strength)
