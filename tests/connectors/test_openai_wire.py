"""The OpenAI Chat Completions translator, both halves: what the surface parses, what the connector renders."""

from __future__ import annotations

import pytest

from connectors import openai_wire
from connectors.base import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    Message,
    StreamEnd,
    StreamStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from connectors.errors import UpstreamError, WireFormatError

BODY = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "developer", "content": "be brief"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is "},
                {"type": "text", "text": "this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "look", "arguments": '{"x": 1}'}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "a cat"},
    ],
    "tools": [{"type": "function", "function": {"name": "look", "description": "d", "parameters": {"type": "object"}}}],
    "tool_choice": {"type": "function", "function": {"name": "look"}},
    "max_completion_tokens": 64,
    "stop": "END",
    "temperature": 0.2,
    "user": "u-1",
    "seed": 7,
    "stream": True,
    "stream_options": {"include_usage": True},
}


def test_parse_request_normalizes_roles_parts_tools_and_options():
    request, include_usage = openai_wire.parse_request(BODY)
    assert include_usage is True and request.stream is True
    system, user, assistant, tool = request.messages
    assert (system.role, system.content) == ("system", "be brief")
    assert user.content == "what is this?" and user.images[0].media_type == "image/png"
    assert assistant.tool_calls == [ToolCall(id="c1", name="look", arguments='{"x": 1}')]
    assert (tool.role, tool.tool_call_id, tool.content) == ("tool", "c1", "a cat")
    assert request.tool_choice == "look" and request.stop == ["END"] and request.max_tokens == 64
    assert request.user == "u-1" and request.passthrough["openai"] == {"seed": 7, "max_completion_tokens": 64}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2}, "n"),
        ({"model": "m", "messages": [{"role": "user", "content": [{"type": "audio"}]}]}, "messages[0].content[0]"),
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": {"type": "x"}}, "tool_choice"),
    ],
)
def test_parse_request_names_the_bad_field(body, param):
    with pytest.raises(WireFormatError) as info:
        openai_wire.parse_request(body)
    assert info.value.param == param


def test_render_request_is_the_inverse_of_parse_for_the_same_format():
    request, _ = openai_wire.parse_request(BODY)
    body = openai_wire.render_request(request, "upstream-model")
    assert body["model"] == "upstream-model"
    assert body["max_completion_tokens"] == 64 and "max_tokens" not in body
    assert body["seed"] == 7 and body["stream_options"] == {"include_usage": True}
    assert body["tool_choice"] == {"type": "function", "function": {"name": "look"}}
    again, _ = openai_wire.parse_request({**body, "model": "gpt-4o-mini"})
    assert again.messages == [m.model_copy(update={"name": None}) for m in request.messages]


def test_response_round_trip():
    response = ChatResponse(
        id="x",
        model="m",
        content=None,
        tool_calls=[ToolCall(id="c", name="f", arguments="{}")],
        stop_reason="tool_calls",
        usage=Usage(input_tokens=1, output_tokens=2),
    )
    body = openai_wire.render_response(response, "alias")
    assert body["model"] == "alias" and body["usage"]["total_tokens"] == 3
    assert openai_wire.parse_response(body) == response.model_copy(update={"model": "alias"})


def test_a_malformed_upstream_answer_is_an_upstream_error():
    with pytest.raises(UpstreamError):
        openai_wire.parse_response({"choices": []})


def test_stream_round_trip_through_chunks():
    events = [
        StreamStart(id="s", model="m"),
        TextDelta(text="hi"),
        ToolCallDelta(index=0, id="c", name="f", arguments='{"a"'),
        ToolCallDelta(index=0, arguments=": 1}"),
        StreamEnd(stop_reason="tool_calls", usage=Usage(input_tokens=3, output_tokens=4)),
    ]
    renderer, parser = openai_wire.ChunkRenderer("m", include_usage=True), openai_wire.ChunkParser()
    back = [e for event in events for chunk in renderer.render(event) for e in parser.feed(chunk)]
    assert back == events[:-1] and parser.end() == events[-1]


def test_embeddings_round_trip():
    request = openai_wire.parse_embedding_request({"model": "e", "input": "one", "dimensions": 8})
    assert request == EmbeddingRequest(model="e", inputs=["one"], passthrough={"openai": {"dimensions": 8}})
    assert openai_wire.render_embedding_request(request, "up") == {"model": "up", "input": ["one"], "dimensions": 8}
    answer = {"data": [{"index": 1, "embedding": [2.0]}, {"index": 0, "embedding": [1.0]}], "model": "up"}
    assert openai_wire.parse_embedding_response(answer).embeddings == [[1.0], [2.0]]


def test_a_chat_request_built_elsewhere_renders_only_what_it_has():
    request = ChatRequest(model="a", messages=[Message(role="user", content="x")])
    assert openai_wire.render_request(request, "m") == {"model": "m", "messages": [{"role": "user", "content": "x"}]}
