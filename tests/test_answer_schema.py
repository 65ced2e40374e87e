"""Chat Completions and Messages answers of the gateway, whole and streamed, match the SDKs' generated types
strictly (tests/schema.py): on same-format and cross-format routes, with text, tool calls, logprobs, thinking."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tests.schema import assert_valid, problems

WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}
CLAUDE_WEATHER = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
CHAT_CASES = {
    "text": {"model": "gpt", "messages": [{"role": "user", "content": "hi"}]},
    "logprobs": {"model": "gpt", "messages": [{"role": "user", "content": "hi"}], "logprobs": True},
    "tool call": {"model": "gpt-tool", "messages": [{"role": "user", "content": "weather?"}], "tools": [WEATHER]},
    "from anthropic": {"model": "claude", "messages": [{"role": "user", "content": "hi"}]},
    "tool call from anthropic": {
        "model": "claude-tool",
        "messages": [{"role": "user", "content": "weather?"}],
        "tools": [WEATHER],
    },
}
MESSAGES_CASES = {
    "text": {"model": "claude", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]},
    "thinking": {
        "model": "claude",
        "max_tokens": 2000,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "hi"}],
    },
    "tool call": {
        "model": "claude-tool",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "weather?"}],
        "tools": [CLAUDE_WEATHER],
    },
    "from openai": {"model": "gpt", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]},
    "tool call from openai": {
        "model": "gpt-tool",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "weather?"}],
        "tools": [CLAUDE_WEATHER],
    },
}


def _headers(gateway: Any, anthropic: bool) -> dict[str, str]:
    if anthropic:
        return {"x-api-key": gateway.key, "anthropic-version": "2023-06-01"}
    return {"authorization": f"Bearer {gateway.key}"}


def _stream(gateway: Any, path: str, body: dict[str, Any], anthropic: bool) -> list[dict[str, Any]]:
    out = []
    with httpx.stream(
        "POST", gateway.url + path, json={**body, "stream": True}, headers=_headers(gateway, anthropic)
    ) as r:
        assert r.status_code == 200, r.read()
        for line in r.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                out.append(json.loads(line[6:]))
    return out


@pytest.mark.parametrize("case", list(CHAT_CASES))
def test_chat_completions_match_the_schema(gateway, case):
    body = CHAT_CASES[case]
    answer = httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=_headers(gateway, False))
    assert answer.status_code == 200, answer.text
    assert_valid(answer.json(), ChatCompletion)
    chunks = _stream(gateway, "/v1/chat/completions", {**body, "stream_options": {"include_usage": True}}, False)
    for chunk in chunks:
        found = problems(chunk, ChatCompletionChunk)
        assert not found, "\n".join(found)


@pytest.mark.parametrize("case", list(MESSAGES_CASES))
def test_messages_match_the_schema(gateway, case):
    body = MESSAGES_CASES[case]
    answer = httpx.post(f"{gateway.url}/v1/messages", json=body, headers=_headers(gateway, True))
    assert answer.status_code == 200, answer.text
    assert_valid(answer.json(), Message)
    for event in _stream(gateway, "/v1/messages", body, True):
        found = problems(event, RawMessageStreamEvent)
        assert not found, f"{event['type']}: " + "\n".join(found)
