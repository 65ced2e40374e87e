"""The stream look-behind never lets a value out in two pieces, whatever the offset of the split: split the model's
text at every offset into two SSE deltas (and into deltas of every size), and each value is released whole in one
piece, where the scrubber sees all of it."""

from __future__ import annotations

import pytest

from gateway.pii.stream import StreamScrubber

TEXT = (
    "Sure. Write to ops@leaky-corp.com or call (415) 555-2671; the card on file is 4111 1111 1111 1111, "
    "SSN 536-22-8456, key AKIAIOSFODNN7EXAMPLE. Anything else?"
)
VALUES = ["ops@leaky-corp.com", "(415) 555-2671", "4111 1111 1111 1111", "536-22-8456", "AKIAIOSFODNN7EXAMPLE"]


def _released(pieces: list[str]) -> list[str]:
    scrubber = StreamScrubber()
    out = [scrubber.feed(piece) for piece in pieces]
    return [*out, scrubber.flush()]


@pytest.mark.parametrize("value", VALUES)
def test_a_value_split_at_any_offset_is_released_whole(value):
    start = TEXT.index(value)
    for offset in range(start, start + len(value) + 1):
        released = _released([TEXT[:offset], TEXT[offset:]])
        assert "".join(released) == TEXT
        assert any(value in chunk for chunk in released), (offset, released)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 13])
def test_values_in_deltas_of_any_size_are_released_whole(size):
    released = _released([TEXT[i : i + size] for i in range(0, len(TEXT), size)])
    assert "".join(released) == TEXT
    for value in VALUES:
        assert any(value in chunk for chunk in released), (value, size)
