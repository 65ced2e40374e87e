"""Sentence- and line-sized spans of a text: the unit the instruction heuristics and the model score.

A span ends at a line break or at sentence punctuation followed by white space; long runs are cut at
`MAX_SEGMENT` characters so a passage stays small enough to highlight. Offsets point into the original text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

MAX_SEGMENT = 400

# Runs of characters up to a line break or sentence-final punctuation followed by white space ("os.path" and
# "3.5" stay whole). Written as an unrolled loop whose parts cannot match the same character: linear time.
_SENTENCE = re.compile(r"[^\n.!?]*(?:[.!?]+(?=[^\s.!?])[^\n.!?]*)*[.!?]*")


def segments(text: str) -> Iterator[tuple[int, int]]:
    """Yield (start, end) of each non-blank sentence or line, stripped of surrounding white space."""
    for match in _SENTENCE.finditer(text):
        start, end = _strip(text, match.start(), match.end())
        while end - start > MAX_SEGMENT:
            cut = _cut(text, start, start + MAX_SEGMENT)
            yield start, cut
            start, end = _strip(text, cut, end)
        if end > start:
            yield start, end


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _cut(text: str, start: int, limit: int) -> int:
    """The last white space before `limit` (past the middle), else `limit` itself."""
    space = text.rfind(" ", start + MAX_SEGMENT // 2, limit)
    return space if space > start else limit
