"""Answers as parts: tool calls assembled from their pieces, and whole answers taken apart and rebuilt."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from connectors.base import (
    ChatResponse,
    EmbeddingResponse,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from gateway.reply import assemble, iterate, parts_of, rebuild, stream_parts, to_events


def collect(items: AsyncIterator[object]) -> list[object]:
    async def run() -> list[object]:
        return [item async for item in items]

    return asyncio.run(run())


async def events(*items: StreamEvent) -> AsyncIterator[StreamEvent]:
    for item in items:
        yield item


def test_assemble_joins_pieces_by_index_whatever_their_order():
    deltas = [
        ToolCallDelta(index=1, id="b", name="second", arguments='{"y"'),
        ToolCallDelta(index=0, id="a", name="first"),
        ToolCallDelta(index=0, arguments='{"x": 1}'),
        ToolCallDelta(index=1, arguments=": 2}"),
    ]
    assert assemble(deltas) == [
        ToolCall(id="a", name="first", arguments='{"x": 1}'),
        ToolCall(id="b", name="second", arguments='{"y": 2}'),
    ]


def test_assemble_of_a_call_that_never_got_an_id_keeps_an_empty_one():
    assert assemble([ToolCallDelta(index=0, name="f", arguments="{}")]) == [ToolCall(id="", name="f", arguments="{}")]


def test_stream_parts_pass_text_at_once_and_tool_calls_whole_before_the_end():
    start, end = StreamStart(id="s", model="m"), StreamEnd(stop_reason="tool_calls")
    parts = collect(
        stream_parts(
            events(
                start,
                TextDelta(text="let me "),
                ToolCallDelta(index=0, id="a", name="f", arguments='{"q":'),
                TextDelta(text="check"),
                ToolCallDelta(index=0, arguments=' "x"}'),
                end,
            )
        )
    )
    assert parts == [
        start,
        TextDelta(text="let me "),
        TextDelta(text="check"),
        ToolCall(id="a", name="f", arguments='{"q": "x"}'),
        end,
    ]


def test_to_events_numbers_the_calls_that_were_let_through():
    parts = [ToolCall(id="b", name="kept", arguments="{}"), StreamEnd()]
    assert collect(to_events(iterate(parts))) == [
        ToolCallDelta(index=0, id="b", name="kept", arguments="{}"),
        StreamEnd(),
    ]


def test_a_whole_answer_round_trips_through_parts():
    reply = ChatResponse(
        id="r",
        model="m",
        content="hello",
        tool_calls=[ToolCall(id="a", name="f", arguments="{}")],
        stop_reason="tool_calls",
        usage=Usage(input_tokens=3, output_tokens=4),
    )
    assert rebuild(reply, parts_of(reply)) == reply


def test_rebuild_takes_what_the_stages_let_through():
    reply = ChatResponse(id="r", model="m", content="hello", tool_calls=[ToolCall(id="a", name="f")])
    start, _, _, end = parts_of(reply)
    rebuilt = rebuild(reply, [start, TextDelta(text="HEL"), TextDelta(text="LO"), end])
    assert rebuilt.content == "HELLO" and rebuilt.tool_calls == [] and rebuilt.id == "r"


def test_an_answer_without_text_stays_without_text():
    reply = ChatResponse(id="r", model="m", content=None, tool_calls=[ToolCall(id="a", name="f")])
    assert rebuild(reply, parts_of(reply)).content is None


def test_embeddings_are_parts_with_no_content_and_keep_their_vectors():
    reply = EmbeddingResponse(model="e", embeddings=[[0.5, 0.25]], usage=Usage(input_tokens=2))
    parts = parts_of(reply)
    assert [type(p) for p in parts] == [StreamStart, StreamEnd]
    assert rebuild(reply, parts) == reply
