"""Anthropic Messages wire format <-> the neutral format, in both directions.

The gateway's Anthropic surface uses `parse_request` / `render_response` / `EventRenderer`; the Anthropic
connector uses `render_request` / `parse_response` / `EventParser`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from connectors import anthropic_shape as shape
from connectors.base import (
    ChatRequest,
    ChatResponse,
    Image,
    Message,
    Role,
    StopReason,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    Thinking,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from connectors.errors import UpstreamError, WireFormatError

_STOP_IN: dict[str | None, StopReason] = {"max_tokens": "length", "tool_use": "tool_calls", "refusal": "content_filter"}
_THINKING = ("thinking", "redacted_thinking")
_STOP_OUT: dict[StopReason, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Source(_Lenient):
    type: str | None = None  # missing: refused by `_image`, which names the block
    media_type: str | None = None
    data: str | None = None
    url: str | None = None


class _Block(_Lenient):
    type: str
    text: str | None = None
    id: str | None = None
    name: str | None = None
    input: Any = None
    tool_use_id: str | None = None
    source: _Source | str | None = None  # a string: a block of another type (a search result's)
    cache_control: dict[str, Any] | None = None
    content: str | list[_Block] | None = None
    is_error: bool = False


class _Message(_Lenient):
    role: Literal["user", "assistant", "system"]  # system: a turn of its own (beta mid-conversation-system)
    content: str | Annotated[list[_Block], Field(min_length=1)]  # no empty list: a message says something


class _Tool(_Lenient):
    name: str
    description: str | None = None
    input_schema: dict[str, Any] = Field(default_factory=dict)


class _Request(_Lenient):
    model: str
    max_tokens: int = Field(ge=1)
    messages: list[_Message] = Field(min_length=1)
    system: str | list[_Block] | None = None
    tools: list[_Tool] | None = None
    tool_choice: dict[str, Any] | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(None, ge=0, le=1)
    top_p: float | None = Field(None, ge=0, le=1)
    stream: StrictBool = False
    metadata: dict[str, Any] | None = None


FOREIGN = "anthropic.foreign"  # passthrough key: blocks the neutral format does not model, by where they are


class _Foreign(list[tuple[str, str]]):
    """The blocks of a request that the neutral format does not model (documents, search results, blocks of
    new betas): (message, param). They reach an Anthropic provider whole (in the shape, where the inspector
    reads their strings); a route that translates refuses the call, naming the first."""

    def add(self, kind: str, param: str) -> None:
        self.append((f"content block type {kind!r} cannot be translated for this route's provider", param))


def _block_texts(content: str | list[_Block] | None, where: str, foreign: _Foreign) -> list[str] | None:
    """The texts of text blocks (None for a plain string); a block of another type is kept whole."""
    if content is None or isinstance(content, str):
        return None
    for i, block in enumerate(content):
        if block.type != "text":
            foreign.add(block.type, f"{where}[{i}]")
    return [b.text or "" for b in content if b.type == "text"]


def _text_message(
    role: Role, content: str | list[_Block] | None, where: str, foreign: _Foreign, **fields: Any
) -> Message:
    parts = _block_texts(content, where, foreign)
    text = "".join(parts) if parts is not None else content
    return Message(role=role, content=text, parts=parts, **fields)  # type: ignore[arg-type]


def _image(block: _Block, where: str) -> Image:
    source = block.source if isinstance(block.source, _Source) else None
    if source is not None and source.type == "base64" and source.data:
        return Image(media_type=source.media_type, data=source.data)
    if source is not None and source.type == "url" and source.url:
        return Image(url=source.url)
    raise WireFormatError("an image block needs a base64 or url source", f"{where}.source")


def _user_messages(blocks: list[_Block], where: str, foreign: _Foreign) -> list[Message]:
    out: list[Message] = []
    texts: list[str] = []
    images: list[Image] = []
    layout = ""
    for i, block in enumerate(blocks):
        if block.type == "tool_result":
            tool = _text_message(
                "tool", block.content, f"{where}[{i}].content", foreign, tool_call_id=block.tool_use_id
            )
            out.append(tool if tool.content is not None else tool.model_copy(update={"content": ""}))
        elif block.type == "text":
            texts.append(block.text or "")
            layout += "t"
        elif block.type == "image":
            images.append(_image(block, f"{where}[{i}]"))
            layout += "i"
        else:
            foreign.add(block.type, f"{where}[{i}]")
    if texts or images or not out:  # a message of foreign blocks alone still has its place
        out.append(Message(role="user", content="".join(texts), parts=texts, images=images, layout=layout))
    return out


def _user_blocks(m: Message) -> list[dict[str, Any]]:
    """A user message translated from another format: its text parts and images in the order they came (else
    the images first, as Anthropic recommends, then the text)."""
    if m.parts is None or m.layout is None:
        text = [{"type": "text", "text": m.text()}] if m.text() or not m.images else []
        return [*(_image_block(image) for image in m.images), *text]
    texts, images, out = iter(m.parts), iter(m.images), []
    for kind in m.layout:
        if kind == "t" and (part := next(texts, None)) is not None and part:
            out.append({"type": "text", "text": part})
        elif kind == "i" and (image := next(images, None)) is not None:
            out.append(_image_block(image))
    return out or [{"type": "text", "text": m.text()}]


def _image_block(image: Image) -> dict[str, Any]:
    if image.url:
        return {"type": "image", "source": {"type": "url", "url": image.url}}
    return {"type": "image", "source": {"type": "base64", "media_type": image.media_type, "data": image.data}}


def _assistant_message(blocks: list[_Block], where: str, foreign: _Foreign) -> Message:
    texts, calls = [], []
    for i, block in enumerate(blocks):
        if block.type == "text":
            texts.append(block.text or "")
        elif block.type == "tool_use":
            calls.append(
                ToolCall(id=block.id or f"toolu_{i}", name=block.name or "", arguments=json.dumps(block.input or {}))
            )
        elif block.type not in ("thinking", "redacted_thinking"):
            foreign.add(block.type, f"{where}[{i}]")
    return Message(role="assistant", content="".join(texts) or None, parts=texts or None, tool_calls=calls)


def _messages(wire: _Request, raw: list[dict[str, Any]], foreign: _Foreign) -> tuple[list[Message], dict[str, Any]]:
    """The neutral messages, and the shape of each message sent as blocks (by the index of its first neutral
    message, with how many neutral messages it became)."""
    out: list[Message] = []
    shapes: dict[str, Any] = {}
    if wire.system:
        out.append(_text_message("system", wire.system, "system", foreign))
    for i, m in enumerate(wire.messages):
        where, first = f"messages.{i}.content", len(out)
        turn = {"turn": True} if m.role == "system" else {}  # a system turn stays where it is, for Anthropic
        if isinstance(m.content, str):
            out.append(Message(role=m.role, content=m.content))
            shapes[str(first)] = {"string": True, "span": 1, **turn}
            continue
        if m.role == "system":
            out.append(_text_message("system", m.content, where, foreign))
        elif m.role == "user":
            out.extend(_user_messages(m.content, where, foreign))
        else:
            out.append(_assistant_message(m.content, where, foreign))
        content = raw[i].get("content") if i < len(raw) and isinstance(raw[i], dict) else None
        if isinstance(content, list):
            shapes[str(first)] = {"blocks": shape.block_shape(content), "span": len(out) - first, **turn}
    return out, shapes


def _tool_choice(choice: dict[str, Any] | None) -> str | None:
    if not choice:
        return None
    kind = choice.get("type")
    if kind == "tool":
        return str(choice.get("name"))
    return {"auto": "auto", "any": "required", "none": "none"}.get(str(kind))


def parse_request(body: Any) -> ChatRequest:
    """Validate an Anthropic Messages request body into the neutral request."""
    try:
        wire = _Request.model_validate(body)
    except ValidationError as exc:
        raise WireFormatError.from_validation(exc) from exc
    tools = [shape.parse_tool(t) for t in body.get("tools") or []]
    user = (wire.metadata or {}).get("user_id")
    foreign = _Foreign()
    messages, shapes = _messages(wire, body.get("messages") or [], foreign)
    return ChatRequest(
        model=wire.model,
        messages=messages,
        tools=tools,
        tool_choice=_tool_choice(wire.tool_choice),
        max_tokens=wire.max_tokens,
        temperature=wire.temperature,
        top_p=wire.top_p,
        stop=wire.stop_sequences or [],
        stream=wire.stream,
        user=user if isinstance(user, str) else None,
        passthrough={
            **_passthrough(wire, body, shapes),
            **({FOREIGN: {"blocks": [list(f) for f in foreign]}} if foreign else {}),
        },
    )


def _passthrough(wire: _Request, body: dict[str, Any], shapes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What the neutral format does not model, for an Anthropic provider: top-level fields (top_k, thinking,
    ...), a `tool_choice` with more than a choice (disable_parallel_tool_use), and the shape of blocks."""
    extras = dict(wire.model_extra or {})
    if wire.tool_choice and set(wire.tool_choice) - {"type", "name"}:
        extras["tool_choice"] = wire.tool_choice
    if wire.tools == []:  # sent as an empty list: kept so
        extras["tools"] = []
    out = {"anthropic": extras, shape.MESSAGES: shapes}
    if isinstance(body.get("system"), list):
        out[shape.SYSTEM] = {"blocks": shape.block_shape(body["system"])}
    return out


def _assistant_blocks(m: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": m.content}] if m.content else []
    for t in m.tool_calls:
        blocks.append({"type": "tool_use", "id": t.id, "name": t.name, "input": _arguments(t.arguments)})
    return blocks


def _arguments(text: str) -> Any:
    try:
        return json.loads(text or "{}")
    except json.JSONDecodeError:
        return {"_raw": text}


def _append(out: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    if out and out[-1]["role"] == role:  # turns translated from another format alternate: merge neighbours
        if isinstance(out[-1]["content"], str):
            out[-1]["content"] = [{"type": "text", "text": out[-1]["content"]}]
        out[-1]["content"].extend(blocks)
    else:
        out.append({"role": role, "content": blocks})


def render_request(request: ChatRequest, model: str) -> dict[str, Any]:
    """The body to send to an Anthropic Messages server for `model`. System messages become the system prompt,
    except the system turns an Anthropic agent sent among its messages, which stay where they were."""
    shapes = request.passthrough.get(shape.MESSAGES, {})
    turns = {int(k) for k, kept in shapes.items() if kept.get("turn")}
    system = "\n\n".join(m.text() for i, m in enumerate(request.messages) if m.role == "system" and i not in turns)
    messages: list[dict[str, Any]] = []
    skip = 0
    for i, m in enumerate(request.messages):
        if skip:
            skip -= 1
            continue
        if str(i) in shapes:  # sent as blocks: rebuilt from their shape
            kept = shapes[str(i)]
            skip = kept["span"] - 1
            if kept.get("string"):  # as sent, even after a turn of the same role (the Messages API takes that)
                messages.append({"role": m.role, "content": m.text()})
            elif kept.get("turn"):
                messages.append({"role": "system", "content": shape.fill(kept["blocks"], m, [], [])})
            else:
                _append(messages, *_rebuilt(kept["blocks"], request.messages[i : i + kept["span"]]))
        elif m.role == "user":
            _append(messages, "user", _user_blocks(m))
        elif m.role == "tool":
            _append(messages, "user", [{"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.text()}])
        elif m.role == "assistant":
            _append(messages, "assistant", _assistant_blocks(m))
    body: dict[str, Any] = {"model": model, "max_tokens": request.max_tokens or 4096, "messages": messages}
    system_shape = request.passthrough.get(shape.SYSTEM)
    first = request.messages[0] if request.messages and 0 not in turns else None
    if system and system_shape and first is not None and first.role == "system" and first.text() == system:
        body["system"] = shape.fill(system_shape["blocks"], first, [], [])  # the agent's own blocks, as sent
    elif system:
        body["system"] = system
    tools = [t for t in (shape.render_tool(tool) for tool in request.tools) if t is not None]
    if tools:
        body["tools"] = tools
        choice = _render_tool_choice(request.tool_choice)
        if choice:
            body["tool_choice"] = choice
    optional = {
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stop_sequences": request.stop or None,
        "metadata": {"user_id": request.user} if request.user else None,
        "stream": request.stream or None,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    body.update(request.passthrough.get("anthropic", {}))
    return body


def _rebuilt(blocks: list[dict[str, Any]], group: list[Message]) -> tuple[str, list[dict[str, Any]]]:
    """One Anthropic message from its shape and the neutral messages it became."""
    turn = next((m for m in group if m.role != "tool"), Message(role="user"))
    results = [m for m in group if m.role == "tool"]
    role = "assistant" if turn.role == "assistant" else "user"
    return role, shape.fill(blocks, turn, results, turn.images)


def _render_tool_choice(choice: str | None) -> dict[str, Any] | None:
    if choice is None:
        return None
    named = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}
    return named.get(choice, {"type": "tool", "name": choice})


def _usage(raw: Any) -> Usage:
    raw = raw or {}
    return Usage(input_tokens=raw.get("input_tokens") or 0, output_tokens=raw.get("output_tokens") or 0)


def parse_response(body: Any) -> ChatResponse:
    """An Anthropic message body as a neutral response."""
    try:
        texts = [b["text"] for b in body["content"] if b["type"] == "text"]
        calls = [
            ToolCall(id=b["id"], name=b["name"], arguments=json.dumps(b.get("input") or {}))
            for b in body["content"]
            if b["type"] == "tool_use"
        ]
        return ChatResponse(
            id=body.get("id") or "",
            model=body.get("model") or "",
            content="".join(texts) or None,
            tool_calls=calls,
            stop_reason=_STOP_IN.get(body.get("stop_reason"), "stop"),
            usage=_usage(body.get("usage")),
            extras=_thinking(body["content"], "".join(texts) or None),
        )
    except (KeyError, TypeError, ValidationError) as exc:
        raise UpstreamError(f"upstream sent a malformed message: {exc!r}", status=502) from exc


def _thinking(blocks: list[dict[str, Any]], content: str | None) -> dict[str, dict[str, Any]]:
    """Thinking blocks, kept (signatures and all) for an Anthropic agent: it must send them back with tool results."""
    thinking = [b for b in blocks if b["type"] in ("thinking", "redacted_thinking")]
    return {"anthropic": {"thinking": thinking, "content": content}} if thinking else {}


def render_response(response: ChatResponse, model: str) -> dict[str, Any]:
    """A neutral response as the Anthropic message body the agent expects (thinking first, as it came)."""
    thinking: list[dict[str, Any]] = response.extras_for("anthropic").get("thinking") or []
    message = Message(role="assistant", content=response.content, tool_calls=response.tool_calls)
    blocks = thinking + _assistant_blocks(message)
    return {
        "id": response.id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": _STOP_OUT[response.stop_reason],
        "stop_sequence": None,
        "usage": {"input_tokens": response.usage.input_tokens, "output_tokens": response.usage.output_tokens},
    }


class EventParser:
    """Turns the events of an Anthropic stream into neutral events."""

    def __init__(self) -> None:
        self.tool_index: dict[int, int] = {}  # content block index -> tool call index
        self.thinking: dict[int, dict[str, Any]] = {}  # content block index -> thinking block being assembled
        self.stop_reason: StopReason = "stop"
        self.usage = Usage()

    def feed(self, event: dict[str, Any]) -> list[StreamEvent]:
        kind = event.get("type")
        if kind == "message_start":
            msg = event.get("message") or {}
            self.usage = _usage(msg.get("usage"))
            return [StreamStart(id=msg.get("id") or "", model=msg.get("model") or "")]
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                index = self.tool_index[event["index"]] = len(self.tool_index)
                return [ToolCallDelta(index=index, id=block.get("id"), name=block.get("name"))]
            if block.get("type") in _THINKING:
                self.thinking[event.get("index", -1)] = dict(block)
                return []
            return [TextDelta(text=block["text"])] if block.get("text") else []
        if kind == "content_block_delta":
            return self._delta(event)
        if kind == "content_block_stop" and event.get("index", -1) in self.thinking:
            return [Thinking(block=self.thinking.pop(event.get("index", -1)))]  # whole: the signature came last
        if kind == "message_delta":
            self.stop_reason = _STOP_IN.get((event.get("delta") or {}).get("stop_reason"), "stop")
            out = (event.get("usage") or {}).get("output_tokens")
            self.usage = Usage(input_tokens=self.usage.input_tokens, output_tokens=out or self.usage.output_tokens)
        if kind == "error":
            err = event.get("error") or {}
            raise UpstreamError(f"upstream stream error: {err.get('type')}: {err.get('message')}", status=502)
        return []

    def _delta(self, event: dict[str, Any]) -> list[StreamEvent]:
        delta = event.get("delta") or {}
        if delta.get("type") == "text_delta":
            return [TextDelta(text=delta.get("text") or "")]
        if delta.get("type") == "input_json_delta" and event.get("index") in self.tool_index:
            return [ToolCallDelta(index=self.tool_index[event["index"]], arguments=delta.get("partial_json") or "")]
        thinking = self.thinking.get(event.get("index", -1))
        if thinking is not None and delta.get("type") == "thinking_delta":
            thinking["thinking"] = str(thinking.get("thinking") or "") + str(delta.get("thinking") or "")
        elif thinking is not None and delta.get("type") == "signature_delta":
            thinking["signature"] = str(delta.get("signature") or "")  # one delta, the whole signature (as the SDK)
        return []

    def end(self) -> StreamEnd:
        return StreamEnd(stop_reason=self.stop_reason, usage=self.usage)


class EventRenderer:
    """Turns neutral events into Anthropic stream events (name, payload) for the agent."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.block = -1  # index of the open content block, -1: none
        self.open_kind: str | None = None  # "text", "tool:<n>" or "block" (thinking, always closed at once)

    def _open(self, kind: str, block: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        events = self._close()
        self.block += 1
        self.open_kind = kind
        events.append(
            ("content_block_start", {"type": "content_block_start", "index": self.block, "content_block": block})
        )
        return events

    def _close(self) -> list[tuple[str, dict[str, Any]]]:
        if self.open_kind is None:
            return []
        self.open_kind = None
        return [("content_block_stop", {"type": "content_block_stop", "index": self.block})]

    def render(self, event: StreamEvent) -> list[tuple[str, dict[str, Any]]]:
        if isinstance(event, StreamStart):
            message: dict[str, Any] = {
                "id": event.id,
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            }
            return [("message_start", {"type": "message_start", "message": message})]
        if isinstance(event, TextDelta):
            out = [] if self.open_kind == "text" else self._open("text", {"type": "text", "text": ""})
            return out + [self._delta({"type": "text_delta", "text": event.text})]
        if isinstance(event, ToolCallDelta):
            kind = f"tool:{event.index}"
            out = []
            if self.open_kind != kind:
                out = self._open(
                    kind, {"type": "tool_use", "id": event.id or "", "name": event.name or "", "input": {}}
                )
            if event.arguments:
                out.append(self._delta({"type": "input_json_delta", "partial_json": event.arguments}))
            return out
        if isinstance(event, Thinking):
            return self._thinking(event.block)
        usage = {"input_tokens": event.usage.input_tokens, "output_tokens": event.usage.output_tokens}
        return self._close() + [
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "usage": usage,
                    "delta": {"stop_reason": _STOP_OUT[event.stop_reason], "stop_sequence": None},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]

    def _thinking(self, block: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """A whole thinking block as Anthropic streams one: empty start, its text, its signature, stop."""
        if block.get("type") != "thinking":  # redacted_thinking: all in its start event
            return self._open("block", dict(block)) + self._close()
        out = self._open("block", {**block, "thinking": "", "signature": ""})
        if block.get("thinking"):
            out.append(self._delta({"type": "thinking_delta", "thinking": block["thinking"]}))
        out.append(self._delta({"type": "signature_delta", "signature": block.get("signature") or ""}))
        return out + self._close()

    def _delta(self, delta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return ("content_block_delta", {"type": "content_block_delta", "index": self.block, "delta": delta})
