"""The strict checker of tests/schema.py catches what the SDKs' lenient models let through."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from openai.types.responses import Response, ResponseStreamEvent

from tests.schema import assert_valid, problems

RESPONSE: dict[str, Any] = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1700000000,
    "status": "completed",
    "error": None,
    "incomplete_details": None,
    "model": "gpt",
    "output": [
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "hi", "annotations": [], "logprobs": []}],
        }
    ],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
    "usage": None,
}
DELTA = {
    "type": "response.output_text.delta",
    "sequence_number": 3,
    "item_id": "msg_1",
    "output_index": 0,
    "content_index": 0,
    "delta": "hi",
    "logprobs": [],
}


def broken(edit: Any) -> dict[str, Any]:
    value = copy.deepcopy(RESPONSE)
    edit(value)
    return value


def test_valid_examples_pass_and_the_sdk_models_would_accept_them():
    assert_valid(RESPONSE, Response)
    assert_valid(DELTA, ResponseStreamEvent)
    Response.model_validate(RESPONSE)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda v: v.update(surprise=1), "unknown key 'surprise'"),
        (lambda v: v["output"][0]["content"][0].update(extra=True), "$.output[0].content[0]: unknown key 'extra'"),
        (lambda v: v.pop("parallel_tool_calls"), "missing required key 'parallel_tool_calls'"),
        (lambda v: v["output"][0].pop("status"), "missing required key 'status'"),
        (lambda v: v.update(object="responses"), "'responses' is not one of ['response']"),
        (lambda v: v.update(status="done"), "$.status: 'done' is not one of"),
        (lambda v: v["output"][0].update(type="messages"), "no member of the union has type 'messages'"),
        (lambda v: v["output"][0]["content"][0].update(type="text"), "no member of the union has type 'text'"),
        (lambda v: v.update(id=None), "$.id: null where str is required"),
        (lambda v: v.update(tools=None), "$.tools: null where"),
        (lambda v: v.update(created_at="1700000000"), "$.created_at: expected float, got str"),
        (lambda v: v.update(parallel_tool_calls=1), "$.parallel_tool_calls: expected bool, got int"),
        (lambda v: v.update(max_output_tokens=True), "$.max_output_tokens: expected int, got a boolean"),
        (lambda v: v.update(max_output_tokens=1.5), "$.max_output_tokens: expected int, got float"),
        (lambda v: v.update(metadata={"k": 1}), "$.metadata.k: expected str, got int"),
    ],
)
def test_each_kind_of_breakage_is_caught(edit, expected):
    value = broken(edit)
    found = problems(value, Response)
    assert any(expected in p for p in found), found
    with pytest.raises(AssertionError):
        assert_valid(value, Response)


def test_the_sdk_models_alone_would_have_let_these_through():
    """Why the checker exists: the generated models accept unknown keys and coerce."""
    Response.model_validate(broken(lambda v: v.update(surprise=1, created_at="1700000000")))


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ({"type": "response.output_text.deltas"}, "no member of the union has type"),
        ({"sequence_number": None}, "$.sequence_number: null where int is required"),
        ({"logprobs": None}, "$.logprobs: null where"),
        ({"delta": 1}, "$.delta: expected str, got int"),
    ],
)
def test_stream_events_are_checked_against_the_member_their_type_names(edit, expected):
    found = problems({**DELTA, **edit}, ResponseStreamEvent)
    assert any(expected in p for p in found), found


def test_only_the_keys_the_live_api_returns_beyond_the_schema_are_tolerated():
    assert_valid({**RESPONSE, "store": True}, Response)
    assert problems({**DELTA, "store": True}, ResponseStreamEvent) == [
        "$: unknown key 'store' for ResponseTextDeltaEvent"
    ]


def test_the_checker_walks_the_anthropic_and_chat_completions_types_too():
    from anthropic.types import RawMessageStreamEvent
    from openai.types.chat import ChatCompletionChunk

    start = {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}
    assert problems(start, RawMessageStreamEvent) == ["$.content_block: missing required key 'signature'"]
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "s", "x": 1}}
    assert problems(delta, RawMessageStreamEvent) == ["$.delta: unknown key 'x' for SignatureDelta"]
    choice = {"index": 0, "delta": {"content": "a"}, "finish_reason": "done", "logprobs": None}
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [choice]}
    assert problems(chunk, ChatCompletionChunk)[0].startswith("$.choices[0].finish_reason: 'done' is not one of")
