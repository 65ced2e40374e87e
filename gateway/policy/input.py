"""The policy input document (see docs/policy-input.md and docs/policy-input.schema.json)."""

from __future__ import annotations

import json
from typing import Any

from connectors.base import ChatRequest, ToolCall
from gateway.model import Call, Phase


def _arguments(text: str) -> Any:
    try:
        return json.loads(text or "{}")
    except json.JSONDecodeError:
        return text  # the policy sees the raw text when the model sent arguments that are not JSON


def tool_calls_doc(calls: list[ToolCall]) -> list[dict[str, Any]]:
    return [{"id": c.id, "name": c.name, "arguments": _arguments(c.arguments)} for c in calls]


def request_tool_calls(call: Call) -> list[ToolCall]:
    """On the request phase: the calls of the last assistant turn, whose results the agent now sends back."""
    if not isinstance(call.request, ChatRequest):
        return []
    for message in reversed(call.request.messages):
        if message.role == "assistant":
            return message.tool_calls
    return []


def build_input(
    call: Call, phase: Phase, routes: list[str], tool_calls: list[ToolCall], upstream: dict[str, str] | None = None
) -> dict[str, Any]:
    p = call.principal
    chat = call.request if isinstance(call.request, ChatRequest) else None
    call_doc: dict[str, Any] = {
        "kind": call.kind,
        "operation": "chat" if chat else "embeddings",
        "phase": phase,
        "surface": call.surface,
        "target": call.target,
        "stream": call.stream,
        "request_id": call.request_id,
        "tool_calls": tool_calls_doc(tool_calls),
        "tools": [t.name for t in chat.tools] if chat else [],
        "message_count": len(chat.messages) if chat else 0,
        "max_tokens": chat.max_tokens if chat else None,
    }
    if upstream:
        call_doc["upstream"] = upstream
    return {
        "principal": {"agent": p.agent, "team": p.team, "key_id": p.key_id, "labels": p.labels, "end_user": p.end_user},
        "call": call_doc,
        "pii": [],
        "routes": routes,
    }
