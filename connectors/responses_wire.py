"""OpenAI Responses API requests (`POST /v1/responses`) -> the neutral format.

A Responses request is a list of items (messages, function calls and their outputs, reasoning) plus options.
`input_items` normalizes what the agent sent into items with ids (what `GET .../input_items` lists and what
the gateway keeps for `previous_response_id`); `parse_request` turns the items of the whole conversation into a
neutral `ChatRequest`. Options with a Chat Completions equivalent go into `passthrough["openai"]` under their
Chat Completions names, so a Chat Completions provider receives them (`text.format` -> `response_format`, ...).

The shape of the body (all the neutral format does not carry) goes into `passthrough["responses"]`
(`connectors.responses_shape`), for a provider that speaks Responses natively. Hosted tools (web search, file
search, code interpreter, remote MCP, computer use, ...) become neutral tools marked `hosted`: they run at the
provider, out of the gateway's view, so the gateway lets them through only when the policy names them, and only
to a native route (`untranslatable` says why a translated route cannot take a call).

    >>> body = {"model": "gpt", "input": "hi"}
    >>> request = parse_request(body, raw_input(body))
    >>> request.messages[0].content
    'hi'
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from connectors.base import ChatRequest, Image, Message, ToolCall, ToolSpec
from connectors.errors import WireFormatError
from connectors.responses_shape import CARRIED, SHAPE, item_shape

Problem = tuple[str, str]  # (message, param): what a translated route could not carry

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


class _Part(_Lenient):
    """A content part: its type, and the fields the gateway reads typed (the rest kept as sent)."""

    type: str
    text: str | None = None
    image_url: str | None = None
    file_id: str | None = None
    detail: str | None = None
    refusal: str | None = None


class _MessageItem(_Lenient):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[_Part]
    id: str | None = None


class _FunctionCall(_Lenient):
    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str
    id: str | None = None


class _FunctionCallOutput(_Lenient):
    type: Literal["function_call_output"]
    call_id: str
    output: str | list[_Part]
    id: str | None = None


class _Reasoning(_Lenient):
    type: Literal["reasoning"]
    id: str | None = None
    summary: list[_Part] = []
    encrypted_content: str | None = None


class _OtherItem(_Lenient):
    """An item of another type (a custom tool's call, a hosted tool's call, ...): carried as sent."""

    type: str
    id: str | None = None
    call_id: str | None = None


class _FunctionTool(_Lenient):
    type: Literal["function"]
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: StrictBool | None = None


class _OtherTool(_Lenient):
    type: str
    name: str | None = None


class _Format(_Lenient):
    type: str
    name: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: StrictBool | None = None


class _Text(_Lenient):
    format: _Format | None = None


_ITEMS: dict[str, type[_Lenient]] = {
    "message": _MessageItem,
    "function_call": _FunctionCall,
    "function_call_output": _FunctionCallOutput,
    "reasoning": _Reasoning,
}


def _check_list(values: list[Any], where: str, pick: Any) -> None:
    """Each element validated by the model `pick(element)` chooses; errors name the element's place."""
    for i, value in enumerate(values):
        if not isinstance(value, dict):
            raise WireFormatError(f"{where}.{i}: must be an object", f"{where}.{i}")
        try:
            pick(value).model_validate(value)
        except ValidationError as exc:
            error = exc.errors()[0]
            param = ".".join([where, str(i), *(str(p) for p in error["loc"])])
            raise WireFormatError(f"{param}: {error['msg']}", param) from exc


def _tool_model(tool: dict[str, Any]) -> type[_Lenient]:
    return _FunctionTool if tool.get("type") == "function" else _OtherTool


def _check_shapes(wire: _Request) -> None:
    if isinstance(wire.input, list):
        _check_list(wire.input, "input", lambda item: _ITEMS.get(str(item.get("type", "message")), _OtherItem))
    if wire.tools:
        _check_list(wire.tools, "tools", _tool_model)
        for i, tool in enumerate(wire.tools):
            if tool.get("type") == "namespace" and tool.get("tools") is not None:
                members = tool["tools"]
                if not isinstance(members, list):
                    raise WireFormatError(f"tools.{i}.tools: must be a list", f"tools.{i}.tools")
                _check_list(members, f"tools.{i}.tools", _tool_model)
    if wire.text is not None:
        try:
            _Text.model_validate(wire.text)
        except ValidationError as exc:
            error = exc.errors()[0]
            param = ".".join(["text", *(str(p) for p in error["loc"])])
            raise WireFormatError(f"{param}: {error['msg']}", param) from exc


def new_item_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def validate(body: Any) -> _Request:
    try:
        wire = _Request.model_validate(body)
    except ValidationError as exc:
        raise WireFormatError.from_validation(exc) from exc
    _check_shapes(wire)
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


def _user_content(parts: list[Any], where: str, problems: list[Problem]) -> tuple[list[str], list[Image], str]:
    """The text parts, images and their order (`t`/`i`) of a message's content parts."""
    texts, images, layout = [], [], ""
    for i, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text") and isinstance(part.get("text"), str):
            texts.append(part["text"])
            layout += "t"
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            images.append(Image.from_url(part["image_url"]))
            layout += "i"
        elif kind == "refusal":
            texts.append(str(part.get("refusal") or ""))
            layout += "t"
        else:
            problems.append((f"content part type {kind!r} is not supported", f"{where}.content[{i}]"))
    return texts, images, layout


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return "".join(str(p.get("text") or "") for p in output if isinstance(p, dict))
    return ""


def _add_call(messages: list[Message], call: ToolCall) -> list[int]:
    """Add a function call to the assistant turn it belongs to; where it went ([message, call])."""
    last = messages[-1] if messages else None
    if last is not None and last.role == "assistant":  # one assistant turn: its text and its calls
        last.tool_calls.append(call)
    else:
        messages.append(Message(role="assistant", tool_calls=[call]))
    return [len(messages) - 1, len(messages[-1].tool_calls) - 1]


def _message(item: dict[str, Any], where: str, problems: list[Problem]) -> Message:
    role = str(item.get("role"))
    if role not in ("user", "assistant", "system", "developer"):
        raise WireFormatError(f"message role {role!r} is not supported", f"{where}.role")
    texts, images, layout = _user_content(_content_parts(role, item.get("content")), where, problems)
    neutral_role = "system" if role == "developer" else role
    listed = isinstance(item.get("content"), list)  # parts: rebuilt part by part; a plain string stays one
    return Message(
        role=neutral_role,  # type: ignore[arg-type]
        content="".join(texts),
        parts=texts if listed else None,
        images=images,
        layout=layout if listed else None,
    )


def _conversation(items: list[dict[str, Any]], first: int) -> tuple[list[Message], list[dict[str, Any]], list[Problem]]:
    """The neutral messages of the items (numbered from `first`), each item's shape, and what a translated route
    could not carry (item types the neutral format does not model are kept whole, for a native route)."""
    messages: list[Message] = []
    shapes: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for i, item in enumerate(items):
        where, kind = f"input[{i}]", item.get("type", "message")
        at: int | list[int] | None = None
        if kind == "message":
            messages.append(_message(item, where, problems))
            at = first + len(messages) - 1
        elif kind == "function_call":
            args = str(item.get("arguments") or "{}")
            call = ToolCall(id=str(item.get("call_id")), name=str(item.get("name")), arguments=args)
            at = _add_call(messages, call)
            at[0] += first
        elif kind == "function_call_output":
            text = _output_text(item.get("output"))
            messages.append(Message(role="tool", tool_call_id=str(item.get("call_id")), content=text))
            at = first + len(messages) - 1
        elif kind != "reasoning":  # reasoning items carry no instruction a translated provider could use
            problems.append((f"input item type {kind!r} is not supported by this route", f"{where}.type"))
        shapes.append(item_shape(item, at))
    return messages, shapes, problems


def hosted_name(tool: dict[str, Any]) -> str:
    """How the policy names a hosted tool: its type (`web_search`, `code_interpreter`, ...); a remote MCP
    server `mcp:<server_label>`."""
    kind = str(tool.get("type"))
    if kind == "mcp":
        return f"mcp:{tool.get('server_label')}"
    return kind


def _function(tool: dict[str, Any], extras: dict[str, Any]) -> ToolSpec:
    return ToolSpec(
        name=str(tool.get("name")),
        description=tool.get("description"),
        parameters=tool.get("parameters") or {"type": "object", "properties": {}},
        strict=tool.get("strict"),
        extras=extras,
    )


def _custom(tool: dict[str, Any]) -> ToolSpec:
    """A custom (free-form) tool: the agent runs it; a Chat Completions provider takes it in its own form."""
    spec = {k: tool[k] for k in ("name", "description", "format") if k in tool}
    chat = {"type": "custom", "custom": spec}
    return ToolSpec(name=str(tool.get("name")), extras={SHAPE: tool, "openai": chat}, native_only=True)


def _tools(tools: list[dict[str, Any]] | None) -> list[ToolSpec]:
    """The tools offered. The agent runs function tools, the function tools of a `namespace` group (each
    governed by its own name; the group's shape rides on its first) and custom tools; any other type runs at
    the provider (hosted: only as the policy allows, and only on a native route)."""
    out = []
    for tool in tools or []:
        kind = tool.get("type")
        if kind == "function":
            out.append(_function(tool, {SHAPE: tool}))
        elif kind == "namespace" and isinstance(tool.get("tools"), list):
            members = [t for t in tool["tools"] if isinstance(t, dict)]
            out.extend(_function(t, {SHAPE: tool} if i == 0 else {}) for i, t in enumerate(members))
        elif kind == "custom":
            out.append(_custom(tool))
        else:
            out.append(ToolSpec(name=hosted_name(tool), hosted=True, extras={SHAPE: tool}))
    return out


def _tool_choice(choice: str | dict[str, Any] | None) -> str | None:
    """The choice for the neutral format (a hosted tool's choice has none; the shape keeps it for a native
    route, and a translated route refuses the hosted tool itself)."""
    if choice is None or isinstance(choice, str):
        return choice
    if choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return str(choice["name"])
    if choice.get("type") == "allowed_tools":
        return str(choice.get("mode") or "auto")
    return None


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


def _shape(
    body: dict[str, Any], items: list[dict[str, Any]], problems: list[Problem], instructions: bool
) -> dict[str, Any]:
    """The body without what the neutral request carries (`connectors.responses_shape`)."""
    include = body.get("include")
    return {
        "body": {k: v for k, v in body.items() if k not in CARRIED},
        "input": items,
        "instructions": instructions,
        "untranslatable": [list(p) for p in problems],
        "tools": "tools" in body,
        # its values as keys: the inspector reads values, and these directives are not content
        "include": {str(name): i for i, name in enumerate(include)} if isinstance(include, list) else None,
    }


def parse_request(body: Any, items: list[dict[str, Any]]) -> ChatRequest:
    """The neutral request for a Responses body; `items` is the whole conversation: the items of the earlier
    turns (`previous_response_id`), then what the agent sent as `input` (`raw_input`)."""
    wire = validate(body)
    instructions = [Message(role="system", content=wire.instructions)] if wire.instructions else []
    messages, shapes, problems = _conversation(items, len(instructions))
    messages = instructions + messages
    if not messages and not shapes:
        raise WireFormatError("input must not be empty", "input")
    shape = _shape(body, shapes, problems, bool(instructions))
    shape["string_input"] = isinstance(body.get("input"), str) and len(items) == 1
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
        passthrough={"openai": _chat_options(wire), SHAPE: shape},
    )


def raw_input(body: Any) -> list[dict[str, Any]]:
    """What the agent sent as `input`, as items, unchanged (a string is one user message)."""
    raw = body.get("input") if isinstance(body, dict) else None
    if isinstance(raw, str):
        return [{"role": "user", "content": raw}]
    return [dict(item) for item in raw or [] if isinstance(item, dict)]


def untranslatable(request: ChatRequest) -> tuple[str, str | None] | None:
    """Why a route that translates Responses calls (to Chat Completions or Messages) cannot carry this one
    (None: it can): a hosted tool, or an item or content part the neutral format does not model."""
    for i, tool in enumerate(request.tools):
        if tool.hosted:
            return (
                f"the hosted tool '{tool.name}' runs at the provider and needs a route whose provider speaks the "
                "Responses API natively (provider setting 'responses: native'); this route translates the call",
                f"tools[{i}]",
            )
    shape = request.passthrough.get(SHAPE) or {}
    for message, param in shape.get("untranslatable") or []:
        return f"{message}: this route translates the call (a native Responses provider takes it)", param
    return None
