"""OpenAI Responses API requests (`POST /v1/responses`) -> the neutral format.

A Responses request is a list of items (messages, function calls and their outputs, reasoning) plus options.
`input_items` normalizes what the agent sent into items with ids (what `GET .../input_items` lists and what
the gateway keeps for `previous_response_id`); `parse_request` turns the items of the whole conversation into a
neutral `ChatRequest`. Options with a Chat Completions equivalent go into `passthrough["openai"]` under their
Chat Completions names, so a Chat Completions provider receives them (`text.format` -> `response_format`, ...).

Hosted tools (web search, file search, code interpreter, remote MCP, computer use, ...) run at the provider,
out of the gateway's view, so their calls cannot be governed: they are refused with a clear error.

    >>> body = {"model": "gpt", "input": "hi"}
    >>> request = parse_request(body, input_items(body))
    >>> request.messages[0].content
    'hi'
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from connectors.base import ChatRequest, Image, Message, ToolCall, ToolSpec
from connectors.errors import WireFormatError

UNSUPPORTED = ("background", "conversation", "prompt")  # options the gateway cannot carry out when set


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Request(_Lenient):
    model: str
    input: str | list[dict[str, Any]] = []
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    stream: StrictBool = False
    user: str | None = None
    previous_response_id: str | None = None
    store: bool | None = None
    text: dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    top_logprobs: int | None = None


def new_item_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def validate(body: Any) -> _Request:
    try:
        wire = _Request.model_validate(body)
    except ValidationError as exc:
        raise WireFormatError.from_validation(exc) from exc
    for name in UNSUPPORTED:
        if (wire.model_extra or {}).get(name):
            raise WireFormatError(f"'{name}' is not supported by this gateway", name)
    return wire


def _content_parts(role: str, content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "output_text" if role == "assistant" else "input_text", "text": content}]
    if isinstance(content, list):
        return [dict(part) for part in content]
    return []


def _normalize(item: dict[str, Any]) -> dict[str, Any]:
    out = dict(item)
    kind = out.setdefault("type", "message")
    if kind == "message":
        out["content"] = _content_parts(str(out.get("role")), out.get("content"))
        out.setdefault("id", new_item_id("msg"))
        out.setdefault("status", "completed")
    elif kind == "function_call":
        out.setdefault("id", new_item_id("fc"))
        out.setdefault("status", "completed")
    elif kind == "function_call_output":
        out.setdefault("id", new_item_id("fco"))
        out.setdefault("status", "completed")
    return out


def input_items(body: Any) -> list[dict[str, Any]]:
    """What the agent sent as `input`, as items with ids (a string is one user message)."""
    raw = body.get("input") if isinstance(body, dict) else None
    if isinstance(raw, str):
        raw = [{"type": "message", "role": "user", "content": raw}]
    return [_normalize(item) for item in raw or [] if isinstance(item, dict)]


def _user_content(parts: list[dict[str, Any]], where: str) -> tuple[str, list[Image]]:
    texts, images = [], []
    for i, part in enumerate(parts):
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text") and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            images.append(Image.from_url(part["image_url"]))
        elif kind == "refusal":
            texts.append(str(part.get("refusal") or ""))
        else:
            raise WireFormatError(f"content part type {kind!r} is not supported", f"{where}.content[{i}]")
    return "".join(texts), images


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return "".join(str(p.get("text") or "") for p in output if isinstance(p, dict))
    return ""


def _add_call(messages: list[Message], call: ToolCall) -> None:
    last = messages[-1] if messages else None
    if last is not None and last.role == "assistant":  # one assistant turn: its text and its calls
        last.tool_calls.append(call)
    else:
        messages.append(Message(role="assistant", tool_calls=[call]))


def _messages(items: list[dict[str, Any]]) -> list[Message]:
    messages: list[Message] = []
    for i, item in enumerate(items):
        where, kind = f"input[{i}]", item.get("type")
        if kind == "message":
            role = str(item.get("role"))
            text, images = _user_content(item.get("content") or [], where)
            if role not in ("user", "assistant", "system", "developer"):
                raise WireFormatError(f"message role {role!r} is not supported", f"{where}.role")
            neutral_role = "system" if role == "developer" else role
            messages.append(Message(role=neutral_role, content=text, images=images))  # type: ignore[arg-type]
        elif kind == "function_call":
            args = str(item.get("arguments") or "{}")
            call = ToolCall(id=str(item.get("call_id")), name=str(item.get("name")), arguments=args)
            _add_call(messages, call)
        elif kind == "function_call_output":
            text = _output_text(item.get("output"))
            messages.append(Message(role="tool", tool_call_id=str(item.get("call_id")), content=text))
        elif kind != "reasoning":  # reasoning items carry no instruction a translated provider could use
            raise WireFormatError(f"input item type {kind!r} is not supported by this gateway", f"{where}.type")
    return messages


def _tools(tools: list[dict[str, Any]] | None) -> list[ToolSpec]:
    out = []
    for i, tool in enumerate(tools or []):
        kind = tool.get("type")
        if kind != "function":
            raise WireFormatError(
                f"tool type {kind!r} is not available through this gateway: hosted tools run at the provider, "
                "where the gateway cannot see or govern their calls; offer a function tool instead",
                f"tools[{i}].type",
            )
        out.append(
            ToolSpec(
                name=str(tool.get("name")),
                description=tool.get("description"),
                parameters=tool.get("parameters") or {"type": "object", "properties": {}},
                strict=tool.get("strict"),
            )
        )
    return out


def _tool_choice(choice: str | dict[str, Any] | None) -> str | None:
    if choice is None or isinstance(choice, str):
        return choice
    if choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return str(choice["name"])
    if choice.get("type") == "allowed_tools":
        return str(choice.get("mode") or "auto")
    raise WireFormatError(f"tool_choice of type {choice.get('type')!r} is not supported", "tool_choice")


def _response_format(text: dict[str, Any] | None) -> dict[str, Any] | None:
    fmt = (text or {}).get("format") or {}
    if fmt.get("type") == "json_schema":
        spec = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": spec}
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    return None


def _chat_options(wire: _Request) -> dict[str, Any]:
    """The request's options under their Chat Completions names (for an OpenAI-compatible provider)."""
    extras = wire.model_extra or {}
    options: dict[str, Any] = {
        "response_format": _response_format(wire.text),
        "verbosity": (wire.text or {}).get("verbosity"),
        "reasoning_effort": (wire.reasoning or {}).get("effort"),
        "parallel_tool_calls": wire.parallel_tool_calls if wire.tools else None,
        "max_completion_tokens": wire.max_output_tokens,
        "logprobs": True if wire.top_logprobs else None,
        "top_logprobs": wire.top_logprobs,
        **{k: extras.get(k) for k in ("service_tier", "prompt_cache_key", "safety_identifier", "seed")},
    }
    choice = wire.tool_choice
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        tools = [{"type": "function", "function": {"name": t.get("name")}} for t in choice.get("tools") or []]
        options["tool_choice"] = {
            "type": "allowed_tools",
            "allowed_tools": {"mode": choice.get("mode"), "tools": tools},
        }
    return {k: v for k, v in options.items() if v is not None}


def parse_request(body: Any, items: list[dict[str, Any]]) -> ChatRequest:
    """The neutral request for a Responses body; `items` is the whole conversation: the items of the earlier
    turns (`previous_response_id`), then this request's `input_items`."""
    wire = validate(body)
    messages = _messages(items)
    if wire.instructions:
        messages.insert(0, Message(role="system", content=wire.instructions))
    if not messages:
        raise WireFormatError("input must not be empty", "input")
    return ChatRequest(
        model=wire.model,
        messages=messages,
        tools=_tools(wire.tools),
        tool_choice=_tool_choice(wire.tool_choice),
        max_tokens=wire.max_output_tokens,
        temperature=wire.temperature,
        top_p=wire.top_p,
        stream=wire.stream,
        user=wire.user,
        passthrough={"openai": _chat_options(wire)},
    )
