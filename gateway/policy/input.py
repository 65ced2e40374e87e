"""The policy input document (see docs/policy-input.md and docs/policy-input.schema.json), built per kind."""

from __future__ import annotations

import json
from typing import Any

from connectors.base import ToolCall
from gateway.model import AgentPayload, Call, EmbeddingsPayload, ModelPayload, Phase, ToolPayload
from gateway.pii.findings import Findings


def _arguments(text: str) -> Any:
    try:
        return json.loads(text or "{}")
    except json.JSONDecodeError:
        return text  # the policy sees the raw text when the model sent arguments that are not JSON


def tool_calls_doc(calls: list[ToolCall]) -> list[dict[str, Any]]:
    return [{"id": c.id, "name": c.name, "arguments": _arguments(c.arguments)} for c in calls]


def request_tool_calls(call: Call) -> list[ToolCall]:
    """On the request phase: for a chat, the calls of the last assistant turn, whose results the agent now sends
    back; for a tool call, that one call."""
    payload = call.payload
    if isinstance(payload, ToolPayload):
        return [payload.call]
    if not isinstance(payload, ModelPayload):
        return []
    for message in reversed(payload.request.messages):
        if message.role == "assistant":
            return message.tool_calls
    return []


def hosted_tools(payload: ModelPayload) -> list[str]:
    """The hosted tools a Responses call offers (web_search, code_interpreter, mcp:<server_label>, ...): they run
    at the provider, so the decision must name each (`hosted_tools`) for the call to go ahead."""
    if payload.api != "responses":
        return []
    return [t.name for t in payload.request.tools if t.hosted]


def _kind_fields(call: Call) -> dict[str, Any]:
    """The fields whose meaning depends on the kind of call (the same keys for every kind)."""
    payload = call.payload
    if isinstance(payload, ModelPayload):
        chat = payload.request
        return {
            "tools": [t.name for t in chat.tools],
            "hosted_tools": hosted_tools(payload),
            "message_count": len(chat.messages),
            "max_tokens": chat.max_tokens,
        }
    fields: dict[str, Any] = {"tools": [], "message_count": 0, "max_tokens": None}
    if isinstance(payload, EmbeddingsPayload):
        fields["input_count"] = payload.request.count
    elif isinstance(payload, ToolPayload):
        fields["server"] = payload.server
    elif isinstance(payload, AgentPayload):
        fields["message_count"] = 1
    return fields


def build_input(
    call: Call,
    phase: Phase,
    routes: list[str],
    tool_calls: list[ToolCall],
    upstream: dict[str, str] | None = None,
    findings: Findings | None = None,
    internal: bool = False,
    session: dict[str, Any] | None = None,
    redactable: frozenset[str] = frozenset(),
    usage: dict[str, Any] | None = None,
    injection: dict[str, Any] | None = None,
) -> dict[str, Any]:
    p = call.principal
    call_doc: dict[str, Any] = {
        "kind": call.kind,
        "operation": call.operation,
        "phase": phase,
        "surface": call.surface,
        "target": call.target,
        "stream": call.stream,
        "request_id": call.request_id,
        "tool_calls": tool_calls_doc(tool_calls),
        "internal": internal,
        **_kind_fields(call),
    }
    if upstream:
        call_doc["upstream"] = upstream
    return {
        "principal": {"agent": p.agent, "team": p.team, "key_id": p.key_id, "labels": p.labels, "end_user": p.end_user},
        "call": call_doc,
        "pii": findings.summary() if findings else [],
        "redactable": sorted(redactable),
        "pii_truncated": bool(findings and findings.truncated),
        "routes": routes,
        "session": session,  # what the call's session saw before it (gateway.sessions), null outside one
        "usage": usage,  # the caller's limits and what this call may use (gateway.limits), null when none apply
        "injection": injection,  # injection signals of the untrusted content (guards.injection), null when off
    }
