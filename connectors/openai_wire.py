"""OpenAI Chat Completions wire format <-> the neutral format, in both directions.

The gateway's OpenAI surface uses `parse_request` / `render_response` / `ChunkRenderer`; the OpenAI
connector uses `render_request` / `parse_response` / `ChunkParser`. Keeping both halves here keeps them
inverse to each other.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from connectors.base import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Image,
    Message,
    StopReason,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    Thinking,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Usage,
)
from connectors.errors import UpstreamError, WireFormatError


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Function(_Lenient):
    name: str
    arguments: str = "{}"


class _ToolCall(_Lenient):
    id: str
    type: Literal["function"] = "function"
    function: _Function


class _Part(_Lenient):
    type: str
    text: str | None = None
    image_url: dict[str, Any] | None = None


class _Message(_Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[_Part] | None = None
    tool_calls: list[_ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None


class _FunctionSpec(_Lenient):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class _Tool(_Lenient):
    type: str = "function"
    function: _FunctionSpec | None = None
    custom: dict[str, Any] | None = None


class _StreamOptions(_Lenient):
    include_usage: bool = False


class _Request(_Lenient):
    model: str
    messages: list[_Message] = Field(min_length=1)
    tools: list[_Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    stop: str | list[str] | None = None
    stream: StrictBool = False
    stream_options: _StreamOptions | None = None
    user: str | None = None
    n: int = 1


def _content(content: str | list[_Part] | None, where: str) -> dict[str, Any]:
    """A message's content as neutral fields: its text, and for a list its text parts, images and their order."""
    if content is None or isinstance(content, str):
        return {"content": content}
    texts, images, layout = [], [], ""
    for i, part in enumerate(content):
        if part.type == "text" and part.text is not None:
            texts.append(part.text)
            layout += "t"
        elif part.type == "image_url" and isinstance((part.image_url or {}).get("url"), str):
            images.append(Image.from_url(str((part.image_url or {})["url"])))
            layout += "i"
        else:
            raise WireFormatError(f"content part type {part.type!r} is not supported", f"{where}.content[{i}]")
    return {"content": "".join(texts), "parts": texts, "images": images, "layout": layout}


def _message(m: _Message, where: str) -> Message:
    return Message(
        role="system" if m.role == "developer" else m.role,
        **_content(m.content, where),
        tool_calls=[
            ToolCall(id=t.id, name=t.function.name, arguments=t.function.arguments) for t in m.tool_calls or []
        ],
        tool_call_id=m.tool_call_id,
        name=m.name,
    )


def _tool_choice(choice: str | dict[str, Any] | None) -> str | None:
    if choice is None or isinstance(choice, str):
        return choice
    if choice.get("type") == "allowed_tools":  # its mode, for other formats; the choice itself is passed through
        return str((choice.get("allowed_tools") or {}).get("mode") or "auto")
    name = (choice.get("function") or choice.get("custom") or {}).get("name")
    if not isinstance(name, str):
        raise WireFormatError("tool_choice must name a function", "tool_choice")
    return name


def _tool(t: _Tool, raw: dict[str, Any]) -> ToolSpec:
    """A tool in the neutral format; the tool as sent is kept for an OpenAI provider (custom tools, extra keys)."""
    if t.function is None:  # a custom (free-form) tool: the agent runs it, but only an OpenAI provider takes it
        name = str((t.custom or {}).get("name") or t.type)
        return ToolSpec(name=name, extras={"openai": raw}, native_only=True)
    fn = t.function
    return ToolSpec(
        name=fn.name,
        description=fn.description,
        parameters=fn.parameters or {},
        strict=fn.strict,
        extras={"openai": raw},
    )


def parse_request(body: Any) -> tuple[ChatRequest, bool]:
    """Validate an OpenAI request body; returns the neutral request and whether usage is streamed."""
    try:
        wire = _Request.model_validate(body)
    except ValidationError as exc:
        raise WireFormatError.from_validation(exc) from exc
    if wire.n != 1:
        raise WireFormatError("only n=1 is supported", "n")
    messages = [_message(m, f"messages[{i}]") for i, m in enumerate(wire.messages)]
    tools = [_tool(t, raw) for t, raw in zip(wire.tools or [], body.get("tools") or [], strict=False)]
    stop = [wire.stop] if isinstance(wire.stop, str) else wire.stop or []
    request = ChatRequest(
        model=wire.model,
        messages=messages,
        tools=tools,
        tool_choice=_tool_choice(wire.tool_choice),
        max_tokens=wire.max_completion_tokens or wire.max_tokens,
        temperature=wire.temperature,
        top_p=wire.top_p,
        stop=stop,
        stream=wire.stream,
        user=wire.user,
        passthrough={"openai": _extras(wire), MESSAGES: _message_extras(body["messages"])},
    )
    return request, bool(wire.stream_options and wire.stream_options.include_usage)


MESSAGES = "openai.messages"  # passthrough key: what each message carries beyond the neutral format, by index
_MODELLED = ("role", "content", "tool_calls", "tool_call_id", "name")


def _message_extras(raw: list[Any]) -> dict[str, Any]:
    """The `developer` role and unmodelled message keys (refusal, audio, ...), kept for an OpenAI provider
    (in the passthrough, so the inspector reads them too)."""
    out: dict[str, Any] = {}
    for i, message in enumerate(raw):
        kept = {k: v for k, v in message.items() if k not in _MODELLED} if isinstance(message, dict) else {}
        if isinstance(message, dict) and message.get("role") == "developer":
            kept["role"] = "developer"
        if kept:
            out[str(i)] = kept
    return out


def _extras(wire: _Request) -> dict[str, Any]:
    """What the agent sent beyond the neutral format (response_format, seed, ...), to pass on unchanged."""
    extras = dict(wire.model_extra or {})
    if isinstance(wire.tool_choice, dict) and wire.tool_choice.get("type") != "function":
        extras["tool_choice"] = wire.tool_choice  # allowed_tools, custom: sent on as they came
    if "n" in wire.model_fields_set:
        extras["n"] = wire.n
    if wire.max_completion_tokens is not None:  # newer models refuse max_tokens: keep the agent's choice
        extras["max_completion_tokens"] = wire.max_completion_tokens
    return extras


def _render_content(m: Message) -> str | list[dict[str, Any]] | None:
    """A string as it came; a list of parts as it came (each text part on its own, images where they were)."""
    if not m.images and m.parts is None:
        return m.content
    texts = iter(m.parts if m.parts is not None else ([m.content] if m.content else []))
    images = iter(m.images)
    layout = m.layout or "t" * (len(m.parts) if m.parts is not None else int(bool(m.content))) + "i" * len(m.images)
    out: list[dict[str, Any]] = []
    for kind in layout:
        if kind == "t" and (text := next(texts, None)) is not None:
            out.append({"type": "text", "text": text})
        elif kind == "i" and (image := next(images, None)) is not None:
            out.append({"type": "image_url", "image_url": {"url": image.as_url()}})
    return out


def _render_message(m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": _render_content(m)}
    if m.tool_calls:
        out["tool_calls"] = [
            {"id": t.id, "type": "function", "function": {"name": t.name, "arguments": t.arguments}}
            for t in m.tool_calls
        ]
    if m.tool_call_id:
        out["tool_call_id"] = m.tool_call_id
    if m.name and m.role != "tool":
        out["name"] = m.name
    return out


def _render_tool_choice(choice: str | None) -> str | dict[str, Any] | None:
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def _render_tool(t: ToolSpec) -> dict[str, Any]:
    """A tool as the agent sent it (what the neutral format does not model kept), with the neutral fields."""
    raw = t.extras.get("openai") or {}
    if raw.get("type", "function") != "function":  # custom tools: sent on as they came
        return raw
    function: dict[str, Any] = {**(raw.get("function") or {}), "name": t.name, "parameters": t.parameters}
    if t.description is not None:
        function["description"] = t.description
    if t.strict is not None:
        function["strict"] = t.strict
    return {**raw, "type": "function", "function": function}


def render_request(request: ChatRequest, model: str) -> dict[str, Any]:
    """The body to send to an OpenAI-compatible server for `model`."""
    kept = request.passthrough.get(MESSAGES, {})
    messages = [{**_render_message(m), **kept.get(str(i), {})} for i, m in enumerate(request.messages)]
    body: dict[str, Any] = {"model": model, "messages": messages}
    tools = [_render_tool(t) for t in request.tools if not t.hosted or "openai" in t.extras]
    if tools:  # tools another format runs on its own side (Anthropic server tools) have no equivalent here
        body["tools"] = tools
        if request.tool_choice:
            body["tool_choice"] = _render_tool_choice(request.tool_choice)
    optional = {
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "user": request.user,
        "stop": request.stop or None,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    extras = request.passthrough.get("openai", {})
    if "max_completion_tokens" in extras:
        body.pop("max_tokens", None)
    body.update(extras)
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _stop_reason(finish: str | None) -> StopReason:
    mapping: dict[str | None, StopReason] = {
        "length": "length",
        "tool_calls": "tool_calls",
        "function_call": "tool_calls",
        "content_filter": "content_filter",
    }
    return mapping.get(finish, "stop")


def _usage(raw: Any) -> Usage:
    raw = raw or {}
    return Usage(input_tokens=raw.get("prompt_tokens") or 0, output_tokens=raw.get("completion_tokens") or 0)


def parse_response(body: Any) -> ChatResponse:
    """An OpenAI chat.completion body as a neutral response."""
    try:
        choice = body["choices"][0]
        message = choice["message"]
        tool_calls = [
            ToolCall(id=t["id"], name=t["function"]["name"], arguments=t["function"].get("arguments") or "{}")
            for t in message.get("tool_calls") or []
        ]
        return ChatResponse(
            id=body.get("id") or "",
            model=body.get("model") or "",
            content=message.get("content"),
            tool_calls=tool_calls,
            stop_reason=_stop_reason(choice.get("finish_reason")),
            usage=_usage(body.get("usage")),
            extras={"openai": {"logprobs": choice["logprobs"], "content": message.get("content")}}
            if choice.get("logprobs") is not None
            else {},
        )
    except (KeyError, IndexError, TypeError, ValidationError) as exc:
        raise UpstreamError(f"upstream sent a malformed chat completion: {exc!r}", status=502) from exc


def render_response(response: ChatResponse, model: str) -> dict[str, Any]:
    """A neutral response as the OpenAI chat.completion body the agent expects."""
    message: dict[str, Any] = {"role": "assistant", "content": response.content}
    if response.tool_calls:
        message["tool_calls"] = [
            {"id": t.id, "type": "function", "function": {"name": t.name, "arguments": t.arguments}}
            for t in response.tool_calls
        ]
    usage = response.usage
    return {
        "id": response.id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": response.stop_reason,
                "logprobs": response.extras_for("openai").get("logprobs"),
            }
        ],
        "usage": {
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.input_tokens + usage.output_tokens,
        },
    }


class ChunkParser:
    """Turns the `data:` payloads of an OpenAI stream into neutral events."""

    def __init__(self) -> None:
        self.started = False
        self.stop_reason: StopReason = "stop"
        self.usage = Usage()

    def feed(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        if not self.started:
            self.started = True
            events.append(StreamStart(id=chunk.get("id") or "", model=chunk.get("model") or ""))
        if chunk.get("usage"):
            self.usage = _usage(chunk["usage"])
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                events.append(TextDelta(text=delta["content"], logprobs=choice.get("logprobs") or None))
            for t in delta.get("tool_calls") or []:
                fn = t.get("function") or {}
                events.append(
                    ToolCallDelta(
                        index=t.get("index", 0),
                        id=t.get("id"),
                        name=fn.get("name"),
                        arguments=fn.get("arguments") or "",
                    )
                )
            if choice.get("finish_reason"):
                self.stop_reason = _stop_reason(choice["finish_reason"])
        return events

    def end(self) -> StreamEnd:
        return StreamEnd(stop_reason=self.stop_reason, usage=self.usage)


class ChunkRenderer:
    """Turns neutral events into OpenAI `chat.completion.chunk` payloads for the agent."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.model = model
        self.include_usage = include_usage
        self.id = ""
        self.created = int(time.time())

    def _chunk(
        self, delta: dict[str, Any], finish: str | None = None, logprobs: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": logprobs}],
        }

    def render(self, event: StreamEvent) -> list[dict[str, Any]]:
        if isinstance(event, StreamStart):
            self.id = event.id
            return [self._chunk({"role": "assistant", "content": ""})]
        if isinstance(event, TextDelta):
            return [self._chunk({"content": event.text}, logprobs=event.logprobs)]
        if isinstance(event, Thinking):  # Anthropic's own: no equivalent in this format
            return []
        if isinstance(event, ToolCallDelta):
            call: dict[str, Any] = {"index": event.index, "function": {"arguments": event.arguments}}
            if event.id:
                call.update(id=event.id, type="function")
            if event.name:
                call["function"]["name"] = event.name
            return [self._chunk({"tool_calls": [call]})]
        chunks = [self._chunk({}, event.stop_reason)]
        if self.include_usage:
            u = event.usage
            chunks.append(
                {
                    "id": self.id,
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self.model,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": u.input_tokens,
                        "completion_tokens": u.output_tokens,
                        "total_tokens": u.input_tokens + u.output_tokens,
                    },
                }
            )
        return chunks


def dumps(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"))


class _EmbeddingRequest(_Lenient):
    model: str
    input: str | list[str] | list[StrictInt] | list[Annotated[list[StrictInt], Field(min_length=1)]]
    user: str | None = None


def parse_embedding_request(body: Any) -> EmbeddingRequest:
    """An OpenAI embeddings body: text, or token ids (kept as sent; there is no text for inspection to read)."""
    try:
        wire = _EmbeddingRequest.model_validate(body)
    except ValidationError as exc:
        raise WireFormatError.from_validation(exc) from exc
    if not wire.input:
        raise WireFormatError("input must not be empty", "input")
    extras = {"openai": dict(wire.model_extra or {})}
    if isinstance(wire.input, str) or isinstance(wire.input[0], str):
        texts = [wire.input] if isinstance(wire.input, str) else wire.input
        return EmbeddingRequest(model=wire.model, inputs=texts, user=wire.user, passthrough=extras)
    return EmbeddingRequest(model=wire.model, inputs=[], token_input=wire.input, user=wire.user, passthrough=extras)


def render_embedding_request(request: EmbeddingRequest, model: str) -> dict[str, Any]:
    sent = request.inputs if request.token_input is None else request.token_input
    user = {"user": request.user} if request.user is not None else {}
    return {"model": model, "input": sent, **user, **request.passthrough.get("openai", {})}


def parse_embedding_response(body: Any) -> EmbeddingResponse:
    try:
        data = sorted(body["data"], key=lambda item: item.get("index", 0))
        return EmbeddingResponse(
            model=body.get("model") or "",
            embeddings=[item["embedding"] for item in data],
            usage=_usage(body.get("usage")),
        )
    except (KeyError, TypeError, AttributeError, ValidationError) as exc:
        raise UpstreamError(f"upstream sent a malformed embeddings answer: {exc!r}", status=502) from exc


def render_embedding_response(response: EmbeddingResponse, model: str) -> dict[str, Any]:
    data = [{"object": "embedding", "index": i, "embedding": e} for i, e in enumerate(response.embeddings)]
    tokens = response.usage.input_tokens
    return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
