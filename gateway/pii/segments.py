"""The texts of a call, each with where it was found, and how redacted texts are written back.

A chat's texts are its messages' content (by role: system, user, assistant, tool_result), the arguments of
the assistant's tool calls (tool_arguments), and every string in the fields the gateway passes through
unmodelled to a same-format provider (other), so nothing goes around the inspector. Embeddings inputs are
`input`; a tool call's arguments `tool_arguments`; a message to an agent `user`. The end user a model or
embeddings call names in its body (`user`, which the provider receives too) is `end_user`. The order is fixed,
so a finding's `segment` number finds its text again.
"""

from __future__ import annotations

from typing import Any

from gateway.model import AgentPayload, EmbeddingsPayload, ListPayload, ModelPayload, ReadPayload, ToolPayload

Payload = ModelPayload | EmbeddingsPayload | ToolPayload | AgentPayload | ReadPayload | ListPayload
Path = tuple[Any, ...]
Segment = tuple[str, int, str, Path]  # where, index, text, path (how to write it back)

_WHERE = {"system": "system", "user": "user", "assistant": "assistant", "tool": "tool_result"}


def strings(value: Any, path: Path = ()) -> list[tuple[Path, str]]:
    """Every string in a JSON value, with the path to it, in document order."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in strings(item, (*path, key))]
    if isinstance(value, list):
        return [found for i, item in enumerate(value) for found in strings(item, (*path, i))]
    return []


def segments(payload: Payload) -> list[Segment]:
    if isinstance(payload, ReadPayload | ListPayload):  # nothing of the agent's is sent anywhere
        return []
    if isinstance(payload, EmbeddingsPayload):
        inputs: list[Segment] = [("input", i, text, ("input", i)) for i, text in enumerate(payload.request.inputs)]
        return inputs + _passthrough(payload.request.passthrough) + _end_user(payload.request.user)
    if isinstance(payload, ToolPayload):
        return [("tool_arguments", 0, payload.call.arguments, ("arguments",))]
    if isinstance(payload, AgentPayload):
        return [("user", 0, payload.text, ("text",))]
    out: list[Segment] = []
    for i, message in enumerate(payload.request.messages):
        if message.parts is not None:  # block by block: a boundary is never read as if the words touched
            out.extend((_WHERE[message.role], i, part, ("part", i, k)) for k, part in enumerate(message.parts) if part)
        elif message.content:
            out.append((_WHERE[message.role], i, message.content, ("content", i)))
        for j, call in enumerate(message.tool_calls):
            out.append(("tool_arguments", i, call.arguments, ("tool_call", i, j)))
    return out + _passthrough(payload.request.passthrough) + _end_user(payload.request.user)


def _end_user(user: str | None) -> list[Segment]:
    return [("end_user", 0, user, ("user",))] if user else []


def _passthrough(passthrough: dict[str, dict[str, Any]]) -> list[Segment]:
    return [("other", 0, text, ("passthrough", *path)) for path, text in strings(passthrough)]


def _set(value: Any, path: Path, text: str) -> Any:
    """`value` with the string at `path` replaced (copies along the path, shares the rest)."""
    if not path:
        return text
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _set(value[head], rest, text)}
    copy = list(value)
    copy[head] = _set(copy[head], rest, text)
    return copy


def rewrite(payload: Payload, texts: dict[Path, str]) -> Payload:
    """The payload with the texts at the given paths replaced."""
    if not texts:
        return payload
    if isinstance(payload, ToolPayload):
        call = payload.call.model_copy(update={"arguments": texts[("arguments",)]})
        return payload.model_copy(update={"call": call})
    if isinstance(payload, AgentPayload):
        return payload.model_copy(update={"text": texts[("text",)]})
    if isinstance(payload, ReadPayload | ListPayload):
        return payload
    request = payload.request
    passthrough = request.passthrough
    for path, text in texts.items():
        if path[0] == "passthrough":
            passthrough = _set(passthrough, path[1:], text)
    user = texts.get(("user",), request.user)
    if isinstance(payload, EmbeddingsPayload):
        inputs = [texts.get(("input", i), text) for i, text in enumerate(payload.request.inputs)]
        embedding = request.model_copy(update={"inputs": inputs, "passthrough": passthrough, "user": user})
        return payload.model_copy(update={"request": embedding})
    messages = []
    for i, message in enumerate(payload.request.messages):
        calls = [
            c.model_copy(update={"arguments": texts[("tool_call", i, j)]}) if ("tool_call", i, j) in texts else c
            for j, c in enumerate(message.tool_calls)
        ]
        content, parts = texts.get(("content", i), message.content), message.parts
        if parts is not None:
            parts = [texts.get(("part", i, k), part) for k, part in enumerate(parts)]
            content = "".join(parts) if message.content is not None or any(parts) else None
        messages.append(message.model_copy(update={"content": content, "parts": parts, "tool_calls": calls}))
    chat = request.model_copy(update={"messages": messages, "passthrough": passthrough, "user": user})
    return payload.model_copy(update={"request": chat})
