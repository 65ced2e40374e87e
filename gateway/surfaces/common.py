"""What the model surfaces (OpenAI, Anthropic, Responses) share: reading the body, entering the pipeline
through the one door (`gateway.adapter`), and rendering the result through the surface's own wire format
(its errors: `gateway.rendering`).

A surface is a `WireFormat`: how to parse a body, render a response and encode a stream. `handle` is the one
request handler they all use.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, Literal, Protocol

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from connectors.base import StreamStart
from gateway import rendering
from gateway.adapter import enter, inbound, origin
from gateway.errors import ApprovalPending, GatewayError, InvalidRequest, RequestTooLarge
from gateway.model import Parser
from gateway.pipeline import Pipeline, Result, Stream
from gateway.reply import Event, Reply
from gateway.surfaces.body import Unparsable
from gateway.surfaces.body import read_json as read_json  # re-exported: every surface reads bodies through here


class WireFormat(Protocol):
    @property
    def name(self) -> Literal["openai", "anthropic"]:
        """The surface, and the protocol of its errors (`gateway.rendering`)."""
        ...

    def parser(self) -> Parser:
        """A parser for one request (it may remember options that only rendering needs)."""
        ...

    async def render(self, reply: Reply, model: str, parser: Parser) -> dict[str, Any]:
        """The answer's body (`parser` is this request's parser, with what it remembered)."""
        ...

    def encode(self, events: AsyncIterator[Event], model: str, parser: Parser) -> AsyncIterator[bytes]: ...

    def stream_error(self, exc: GatewayError) -> bytes:
        """The error as the protocol's in-stream error event (the status line has already gone out)."""
        ...


_UNREAD = object()


async def handle(
    request: Request,
    wire: WireFormat,
    body: Any = _UNREAD,
    parser: Parser | None = None,
    session: tuple[str, str] | None = None,
) -> Response:
    """Run one agent call through the pipeline and answer in `wire`'s format, streamed or not. A surface that
    reads the body itself (to resolve what it refers to) passes it, and the parser it made for it; one whose
    protocol names a session (a Responses chain) passes it (`X-Gateway-Session` still wins)."""
    pipeline: Pipeline = request.app.state.pipeline
    if body is _UNREAD:
        body = await read_json(request, pipeline.services.settings.max_request_bytes)
    parser = parser or wire.parser()
    came = origin(request, wire.name)
    if session is not None and came.session is None:
        came = replace(came, session=session)
    model = str(body.get("model", "")) if isinstance(body, dict) else ""

    async def answer(result: Result, out_headers: dict[str, str]) -> Response:
        if hasattr(parser, "decision_id"):  # a parser that keeps the answer keeps the decision id with it
            parser.decision_id = result.decision_id
        if result.stream is not None:
            return await stream_response(wire, result.stream, model, parser, out_headers)
        if result.reply is None:
            raise GatewayError("internal check failed: result.reply is not None")
        rendered = await wire.render(result.reply, model or result.reply.model, parser)
        reply_headers = getattr(wire, "reply_headers", None)  # a format whose answer says more in its headers
        if reply_headers is not None:
            out_headers.update(reply_headers(result.reply))
        return JSONResponse(rendered, headers=out_headers)

    def fail(exc: GatewayError, out_headers: dict[str, str]) -> Response:
        return rendering.response(wire.name, exc, came.request_id, exc.decision_id)

    return await enter(pipeline, inbound(request, came, body, parser), answer, fail, accepted)


STREAM_FIRST_EVENT_S = 10.0  # how long a stream's status line waits for its first content (see `stream_response`)


async def stream_response(
    wire: WireFormat, stream: Stream, model: str, parser: Parser, out_headers: dict[str, str]
) -> Response:
    """The stream's answer. The status line waits (up to `STREAM_FIRST_EVENT_S`) for the first event after the
    stream's start: a denial before any content (tool calls the response-phase policy refuses, an upstream that
    fails at once) is then a real error status in the protocol's shape, not a 200 followed by an error event.
    Past the wait, the 200 goes out and a later error is the protocol's in-stream error event."""
    peek = asyncio.ensure_future(_first_content(stream))
    await asyncio.wait({peek}, timeout=STREAM_FIRST_EVENT_S)
    if peek.done() and isinstance(peek.exception(), GatewayError):
        with anyio.CancelScope(shield=True):
            await stream.aclose()
        error = peek.exception()
        if not isinstance(error, GatewayError):
            raise GatewayError("internal check failed: isinstance(error, GatewayError)")
        return error_response(wire, error, out_headers["x-request-id"], out_headers.get("x-gateway-decision-id"))
    encoded = _relay(wire.encode(_resume(peek, stream), model, parser), wire)
    return EventStreamResponse(stream, encoded, out_headers, peek)


async def _first_content(stream: Stream) -> list[Event]:
    """The stream's events up to its first content (text, a tool call, its end, a keep-alive of a held call)."""
    events: list[Event] = []
    async for event in stream:
        events.append(event)
        if not isinstance(event, StreamStart):
            break
    return events


async def _resume(peek: asyncio.Future[list[Event]], stream: Stream) -> AsyncIterator[Event]:
    for event in await peek:
        yield event
    async for event in stream:
        yield event


class EventStreamResponse(StreamingResponse):
    """A server-sent event stream that always ends its call (audit), however the response ends."""

    def __init__(
        self,
        stream: Stream,
        content: AsyncIterator[bytes],
        headers: dict[str, str],
        peek: asyncio.Future[list[Event]] | None = None,
    ) -> None:
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self.stream = stream
        self.peek = peek

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                if self.peek is not None and not self.peek.done():  # the agent left while the stream was quiet
                    self.peek.cancel()
                    await asyncio.wait({self.peek})
                await self.stream.aclose()


def accepted(pending: ApprovalPending, out: dict[str, str]) -> JSONResponse:
    """202: held, and the agent asked not to wait. It polls the status URL and retries the same request with
    `X-Gateway-Approval: <id>` once approved."""
    approval = pending.approval
    out = {**out, "x-gateway-approval": approval["id"], "location": approval["status_url"], "retry-after": "5"}
    return JSONResponse(approval, status_code=202, headers=out)


def error_response(
    wire: WireFormat, exc: GatewayError, request_id: str, decision_id: str | None = None
) -> JSONResponse:
    return rendering.response(wire.name, exc, request_id, decision_id)


def ensure_json(body: Any) -> Any:
    if isinstance(body, Unparsable) and body.too_large:
        raise RequestTooLarge(f"the request body is larger than this gateway accepts (over {body.size} bytes read)")
    if isinstance(body, Unparsable):
        raise InvalidRequest(body.reason)
    return body


async def _relay(events: AsyncIterator[bytes], wire: WireFormat) -> AsyncIterator[bytes]:
    """Relay encoded events; a gateway error after the stream started becomes the protocol's error event."""
    try:
        async for chunk in events:
            yield chunk
    except GatewayError as exc:
        yield wire.stream_error(exc)
