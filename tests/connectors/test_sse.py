"""The SSE parser follows the HTML standard's event stream format, whatever the line endings and however the
stream is cut into network reads."""

from __future__ import annotations

import codecs

import pytest

from connectors.http import SseParser

STREAM = 'event: delta\ndata: {"text": " two"}\ndata:  indented\n\n: a comment\ndata:x\n\nevent:done\ndata\n\n'
EXPECTED = [("delta", '{"text": " two"}\n indented'), ("message", "x")]  # then `data` alone: one empty line


def _parse(pieces: list[bytes]) -> list[tuple[str, str]]:
    parser, decoder, out = SseParser(), codecs.getincrementaldecoder("utf-8")("replace"), []
    for piece in pieces:
        out.extend(parser.feed(decoder.decode(piece)))
    out.extend(parser.feed(decoder.decode(b"", final=True)))
    return out


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_every_line_ending_at_every_cut(ending):
    raw = STREAM.replace("\n", ending).encode()
    assert _parse([raw]) == [*EXPECTED, ("done", "")]
    for cut in range(len(raw) + 1):  # a CR and its LF in two reads are one line ending
        assert _parse([raw[:cut], raw[cut:]]) == [*EXPECTED, ("done", "")], cut


def test_one_leading_space_is_removed_and_no_more():
    assert _parse([b"data:  a \n\n", b"data:b\n\n", b"event:  e\ndata: c\n\n"]) == [
        ("message", " a "),
        ("message", "b"),
        (" e", "c"),
    ]


def test_a_character_split_across_reads_and_a_byte_order_mark():
    raw = "\ufeffdata: café ☕\n\n".encode()
    for cut in range(len(raw) + 1):
        assert _parse([raw[:cut], raw[cut:]]) == [("message", "café ☕")]


def test_an_event_cut_off_by_the_end_of_the_stream_is_dropped():
    assert _parse([b"data: whole\n\ndata: half"]) == [("message", "whole")]
