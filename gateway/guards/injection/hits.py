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
    """A pattern, the strength of its hits and words of which one must occur (in lower case) for it to match:
    a substring test is far cheaper than a scan, and most texts contain none of them."""

    pattern: re.Pattern[str]
    strength: float
    cues: tuple[str, ...]


def pattern_hits(text: str, lowered: str, rules: Iterable[Rule], signal: str) -> Iterator[Hit]:
    """A hit for each match of each rule whose cues occur in `lowered` (the text in lower case)."""
    for pattern, strength, cues in rules:
        if not any(cue in lowered for cue in cues):
            continue
        for count, match in enumerate(pattern.finditer(text)):
            if count >= MAX_HITS:
                break
            yield Hit(match.start(), match.end(), signal, strength)
