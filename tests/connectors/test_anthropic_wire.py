"""The Anthropic Messages translator, both halves, and the OpenAI <-> Anthropic crossing they make together."""

from __future__ import annotations

import json

import pytest

from connectors import anthropic_wire, openai_wire
from connectors.base import ChatResponse, StreamEnd, StreamStart, TextDelta, ToolCall, ToolCallDelta, Usage
from connectors.errors import UpstreamError, WireFormatError

BODY = {
    "model": "claude",
    "max_tokens": 100,
    "system": [{"type": "text", "text": "be brief"}],
    "messages": [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "checking"},
                {"type": "tool_use", "id": "t1", "name": "weather", "input": {"city": "Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "sunny"},
                {"type": "text", "text": "and tomorrow?"},
            ],
        },
    ],
    "tools": [{"name": "weather", "input_schema": {"type": "object"}}],
    "tool_choice": {"type": "any"},
    "metadata": {"user_id": "u-9"},
    "stop_sequences": ["END"],
    "top_k": 5,
}


def test_parse_request_splits_tool_results_into_messages_of_their_own():
    request = anthropic_wire.parse_request(BODY)
    assert [m.role for m in request.messages] == ["system", "user", "assistant", "tool", "user"]
    assert request.messages[2].tool_calls == [ToolCall(id="t1", name="weather", arguments='{"city": "Paris"}')]
    assert (request.messages[3].tool_call_id, request.messages[3].content) == ("t1", "sunny")
    assert request.tool_choice == "required" and request.user == "u-9" and request.stop == ["END"]
    assert request.passthrough["anthropic"] == {"top_k": 5}


def test_a_block_the_neutral_format_does_not_model_is_kept_whole_and_named():
    body = {
        **BODY,
        "messages": [{"role": "user", "content": [{"type": "video", "id": "v1"}, {"type": "text", "text": "hi"}]}],
    }
    request = anthropic_wire.parse_request(body)
    assert request.passthrough[anthropic_wire.FOREIGN]["blocks"][0][1] == "messages.0.content[0]"
    rendered = anthropic_wire.render_request(request, "m")
    assert rendered["messages"] == body["messages"]  # same format: as sent


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({**BODY, "max_tokens": None}, "max_tokens"),
        (
            {**BODY, "messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]},
            "messages.0.content[0].source",
        ),
    ],
)
def test_parse_request_names_the_bad_field(body, param):
    with pytest.raises(WireFormatError) as info:
        anthropic_wire.parse_request(body)
    assert info.value.param == param


def test_render_request_is_lossless_for_the_same_format():
    body = anthropic_wire.render_request(anthropic_wire.parse_request(BODY), "claude-up")
    assert body == {**BODY, "model": "claude-up"}


def test_render_request_merges_turns():
    body = anthropic_wire.render_request(anthropic_wire.parse_request(BODY), "claude-up")
    assert body["system"] == BODY["system"] and body["model"] == "claude-up" and body["top_k"] == 5
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "t1", "content": "sunny"},
        {"type": "text", "text": "and tomorrow?"},
    ]
    assert body["tool_choice"] == {"type": "any"} and body["metadata"] == {"user_id": "u-9"}


def test_an_openai_request_crosses_to_anthropic_and_back():
    openai_body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "c", "content": "done"},
        ],
        "max_tokens": 10,
    }
    request, _ = openai_wire.parse_request(openai_body)
    crossed = anthropic_wire.parse_request(anthropic_wire.render_request(request, "claude"))
    assert [(m.role, m.content, m.tool_calls, m.tool_call_id) for m in crossed.messages] == [
        (m.role, m.content, m.tool_calls, m.tool_call_id) for m in request.messages
    ]


def test_response_round_trip():
    response = ChatResponse(
        id="msg",
        model="claude",
        content="ok",
        tool_calls=[ToolCall(id="t", name="f", arguments='{"a": 1}')],
        stop_reason="tool_calls",
        usage=Usage(input_tokens=2, output_tokens=3),
    )
    body = anthropic_wire.render_response(response, "claude")
    assert [b["type"] for b in body["content"]] == ["text", "tool_use"] and body["stop_reason"] == "tool_use"
    assert anthropic_wire.parse_response(body) == response


def test_a_malformed_upstream_message_is_an_upstream_error():
    with pytest.raises(UpstreamError):
        anthropic_wire.parse_response({"content": [{"type": "text"}]})


def test_stream_round_trip_through_events():
    events = [
        StreamStart(id="msg", model="claude"),
        TextDelta(text="hi"),
        ToolCallDelta(index=0, id="t", name="f", arguments='{"a": 1}'),
        StreamEnd(stop_reason="tool_calls", usage=Usage(input_tokens=0, output_tokens=4)),
    ]
    renderer, parser = anthropic_wire.EventRenderer("claude"), anthropic_wire.EventParser()
    rendered = [payload for event in events for _, payload in renderer.render(event)]
    back = [e for payload in json.loads(json.dumps(rendered)) for e in parser.feed(payload)]
    pieces = [e for e in back if isinstance(e, ToolCallDelta)]
    assert back[:2] == events[:2] and "".join(p.arguments for p in pieces) == '{"a": 1}'
    assert pieces[0].id == "t" and parser.end() == events[-1]


def test_an_error_event_in_an_upstream_stream_raises():
    with pytest.raises(UpstreamError, match="overloaded"):
        anthropic_wire.EventParser().feed({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
