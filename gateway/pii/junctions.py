"""Values split across the text blocks of one message: `"write to jane.doe@"` then `"example.com"` in the next
block. Each block is inspected on its own (a boundary is a separator: `"there."` and `"Second"` never read as the
domain `there.Se`); then each boundary is read once more with the words on its two sides joined, and a value
found there that crosses it is reported in both blocks (the end of the first, the start of the second), so
redaction edits each block in place and no character outside the value changes.

    >>> crossing("mail jane.doe@", "example.com today", lambda t: [(0, 20, "EMAIL_ADDRESS", 1.0)])
    [(0, 5, 14, 'EMAIL_ADDRESS', 1.0), (1, 0, 11, 'EMAIL_ADDRESS', 1.0)]
"""

from __future__ import annotations

import re
from collections.abc import Callable

REACH = 64  # characters read on each side of a boundary (an address, a card number or a key fits)
_SPACE = re.compile(r"\s")

Hit = tuple[int, int, str, float]  # start, end, type, score
Side = tuple[int, int, int, str, float]  # which block (0 the first, 1 the second), start, end, type, score


def _tail(text: str) -> str:
    piece = text[-REACH:]
    spaces = [m.end() for m in _SPACE.finditer(piece)]
    return piece[spaces[-1] :] if spaces else piece


def _head(text: str) -> str:
    piece = text[:REACH]
    space = _SPACE.search(piece)
    return piece[: space.start()] if space else piece


def crossing(first: str, second: str, analyze: Callable[[str], list[Hit]]) -> list[Side]:
    """The parts, in each block, of the values that cross the boundary between `first` and `second`."""
    tail, head = _tail(first), _head(second)
    if not tail or not head:
        return []
    out: list[Side] = []
    for start, end, kind, score in analyze(tail + head):
        if start < len(tail) < end:
            out.append((0, len(first) - len(tail) + start, len(first), kind, score))
            out.append((1, 0, end - len(tail), kind, score))
    return out
