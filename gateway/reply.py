"""What comes back from upstream, as the parts that response stages see: streamed or not, the same parts.

A response stage reads an async iterator of `Part` and yields parts: it may pass them on, hold them back
(a bounded look-behind), rewrite or drop them, and release what it held later. The stages see text deltas
and **whole** tool calls, never a tool call's pieces:

- a stream's events become parts with `stream_parts` (the pieces of each tool call are assembled into
  whole calls, released at the end of the stream), and the parts the stages let through become stream
  events again with `to_events`;
- a whole answer becomes parts with `parts_of` (its text is one delta) and is rebuilt from the parts the
  stages let through with `rebuild`, keeping everything the parts do not carry.

Anthropic thinking blocks are parts too (`Thinking`, always whole: a stream's blocks are assembled by the
connector, signature included), in their place among the text, so a stage judges them the same way in a
stream and in a whole answer.

So a response stage is written once and works for streamed and non-streamed calls on every surface.

    >>> parts_of(ChatResponse(id="r1", model="m", content="hi"))  # doctest: +ELLIPSIS
    [StreamStart(...), TextDelta(...), StreamEnd(...)]
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from pydantic import BaseModel

from connectors.base import (
    Carried,
    ChatResponse,
    EmbeddingResponse,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    Thinking,
    ToolCall,
    ToolCallDelta,
)


class KeepAlive(BaseModel):
    """Nothing to say yet (a held call waiting for a reviewer): surfaces send an SSE comment so proxies and
    clients keep the connection open. Stages pass it on untouched; whole answers ignore it."""


Part = StreamStart | Thinking | TextDelta | ToolCall | StreamEnd | KeepAlive
Event = StreamEvent | KeepAlive  # what a surface encodes: a stream's events, and keep-alives
KEEPALIVE = b": keep-alive\n\n"  # an SSE comment: clients ignore it, proxies see traffic
Reply = ChatResponse | EmbeddingResponse


def assemble(deltas: list[ToolCallDelta]) -> list[ToolCall]:
    """Whole tool calls from their streamed pieces, in index order."""
    calls: dict[int, ToolCall] = {}
    for d in deltas:
        current = calls.setdefault(d.index, ToolCall(id=d.id or "", name=d.name or "", arguments=""))
        current.id = current.id or d.id or ""
        current.name = current.name or d.name or ""
        current.arguments += d.arguments
    return [calls[i] for i in sorted(calls)]


async def stream_parts(events: AsyncIterator[Event]) -> AsyncIterator[Part]:
    """A stream's events as parts. Text passes at once; the pieces of tool calls (which some servers
    interleave with each other or with text) are released as whole calls just before the end."""
    pieces: list[ToolCallDelta] = []
    async for event in events:
        if isinstance(event, ToolCallDelta):
            pieces.append(event)
            continue
        if isinstance(event, StreamEnd):
            for call in assemble(pieces):
                yield call
        yield event


async def to_events(parts: AsyncIterator[Part]) -> AsyncIterator[Event]:
    """Parts back as stream events; each whole tool call is one piece, numbered in the order released.

    Thinking blocks wait for the part after them (text, a tool call, the end): a stream's first content commits
    its HTTP status, and a block alone must not, or the refusal of the tool calls it precedes (thinking, then
    tool use, is the usual shape) could no longer be a real error status."""
    index = 0
    thinking: list[Thinking] = []
    async for part in parts:
        if isinstance(part, Thinking):
            thinking.append(part)
            continue
        if not isinstance(part, KeepAlive):
            for block in thinking:
                yield block
            thinking.clear()
        if isinstance(part, ToolCall):
            yield ToolCallDelta(index=index, id=part.id, name=part.name, arguments=part.arguments)
            index += 1
        else:
            yield part


def parts_of(reply: Reply) -> list[Part]:
    """A whole answer as parts: its start, the provider's objects it carries, its thinking blocks, its text as one
    delta, its tool calls, its end."""
    if isinstance(reply, EmbeddingResponse):
        return [StreamStart(id="", model=reply.model), StreamEnd(usage=reply.usage)]
    parts: list[Part] = [StreamStart(id=reply.id, model=reply.model), *reply.carried]
    thinking = (reply.extras.get("anthropic") or {}).get("thinking") or []
    parts.extend(Thinking(block=block) for block in thinking)  # Anthropic puts them before the text
    if reply.content:
        parts.append(TextDelta(text=reply.content))
    parts.extend(reply.tool_calls)
    parts.append(StreamEnd(stop_reason=reply.stop_reason, usage=reply.usage))
    return parts


async def iterate(parts: Iterable[Part]) -> AsyncIterator[Part]:
    for part in parts:
        yield part


def rebuild(reply: Reply, parts: list[Part]) -> Reply:
    """The answer as the stages let it through: their text, tool calls and end; the rest as it came."""
    end = next((p for p in parts if isinstance(p, StreamEnd)), None)
    usage = end.usage if end else reply.usage
    if isinstance(reply, EmbeddingResponse):
        return reply.model_copy(update={"usage": usage})
    texts = [p.text for p in parts if isinstance(p, TextDelta)]
    content = "".join(texts) if texts or reply.content is not None else None
    return reply.model_copy(
        update={
            "content": content,
            "tool_calls": [p for p in parts if isinstance(p, ToolCall)],
            "stop_reason": end.stop_reason if end else reply.stop_reason,
            "usage": usage,
            "carried": [p for p in parts if isinstance(p, Carried)],
            "extras": _extras(reply, content, [p.block for p in parts if isinstance(p, Thinking)]),
        }
    )


def _extras(reply: ChatResponse, content: str | None, thinking: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The reply's extras with the thinking blocks the stages let through. Those stay valid with the new text (a
    block's signature covers the thinking alone, and the stages judged each block by its own text), so they are
    tied to it; the other extras (OpenAI logprobs) still go only with the text as the provider wrote it."""
    extras = dict(reply.extras)
    if not thinking:
        extras.pop("anthropic", None)
        return extras
    extras["anthropic"] = {"thinking": thinking, "content": content}
    return extras
