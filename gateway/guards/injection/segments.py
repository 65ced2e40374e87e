"""Sentence- and line-sized spans of a text: the unit the instruction heuristics and the model score.

A span ends at a line break or at sentence punctuation followed by white space; long runs are cut at
`MAX_SEGMENT` characters so a passage stays small enough to highlight. Offsets point into the original text.

Text cut off mid-sentence ("... The Mercury T") runs into whatever is appended to it, so `trailing_clauses`
also offers, for a span that ends like a sentence, the last few places inside it where a capitalised word
follows a word with no stop after it: an appended sentence starts at one of them.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator

MAX_SEGMENT = 400
MAX_CLAUSES = 3  # clause starts offered per span, the last ones (cross-validated: 2 finds fewer, 6 no more)
MIN_CLAUSE_WORDS = 3

# Runs of characters up to a line break or sentence-final punctuation followed by white space ("os.path" and
# "3.5" stay whole). Written as an unrolled loop whose parts cannot match the same character: linear time.
_SENTENCE = re.compile(r"[^\n.!?]*(?:[.!?]+(?=[^\s.!?])[^\n.!?]*)*[.!?]*")
# A space before a capital letter; `trailing_clauses` keeps those after a word that ends with no stop (a plain
# " [A-Z]" scans several times faster than a pattern with the look-behind in it).
_CAPITAL = re.compile(r" [A-Z]")
_STOPS = ".!?:;|"
_ENDS = ".!?\"')\u201d\u2019"  # how a sentence ends, closing quotes and brackets included


def segments(text: str) -> Iterator[tuple[int, int]]:
    """Yield (start, end) of each non-blank sentence or line, stripped of surrounding white space."""
    for match in _SENTENCE.finditer(text):
        start, end = match.span()
        if start == end:  # the pattern also matches the empty string after each run
            continue
        start, end = _strip(text, start, end)
        while end - start > MAX_SEGMENT:
            cut = _cut(text, start, start + MAX_SEGMENT)
            yield start, cut
            start, end = _strip(text, cut, end)
        if end > start:
            yield start, end


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    chunk = text[start:end]
    left = chunk.lstrip()
    start += len(chunk) - len(left)
    return start, start + len(left.rstrip())


def _cut(text: str, start: int, limit: int) -> int:
    """The last white space before `limit` (past the middle), else `limit` itself."""
    space = text.rfind(" ", start + MAX_SEGMENT // 2, limit)
    return space if space > start else limit


def trailing_clauses(text: str, spans: list[tuple[int, int]]) -> dict[int, list[int]]:
    """For each span (by index) that ends like a sentence, the offsets inside it where a capitalised word follows
    a word with no stop after it and starts a clause of at least `MIN_CLAUSE_WORDS` words to the span's end (a
    request is more than a name or two); the last `MAX_CLAUSES` of them."""
    found: dict[int, list[int]] = {}
    ends = [end for _, end in spans]
    for match in _CAPITAL.finditer(text):
        clause = match.end() - 1
        index = bisect_right(ends, clause)  # the first span that ends after the capital
        if index == len(spans) or spans[index][0] >= clause or text[ends[index] - 1] not in _ENDS:
            continue
        before = match.start() - 1
        while before >= 0 and text[before] == " ":
            before -= 1
        if text[before].isspace() or text[before] in _STOPS:
            continue
        if text.count(" ", clause, ends[index]) >= MIN_CLAUSE_WORDS - 1:
            found.setdefault(index, []).append(clause)
    return {index: starts[-MAX_CLAUSES:] for index, starts in found.items()}
