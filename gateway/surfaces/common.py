"""What every agent-facing surface shares: reading the body and the key, running the pipeline, and
rendering the result (or the error) through the surface's own wire format.

A surface is a `WireFormat`: how to parse a body, render a response, encode a stream and shape an error.
`handle` is the one request handler they all use.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, Protocol

import anyio
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from connectors.base import StreamStart
from gateway.errors import ApprovalPending, GatewayError, InvalidRequest, RequestTooLarge
from gateway.model import (
    MAX_END_USER,
    MAX_REQUEST_ID,
    MAX_SESSION,
    Inbound,
    Origin,
    Parser,
    identifier_problem,
    new_id,
)
from gateway.pipeline import Pipeline, Stream
from gateway.reply import Event, Reply
from gateway.surfaces.body import Unparsable
from gateway.surfaces.body import read_json as read_json  # re-exported: every surface reads bodies through here


class WireFormat(Protocol):
    name: str  # the surface: openai, anthropic, ...

    def parser(self) -> Parser:
        """A parser for one request (it may remember options that only rendering needs)."""
        ...

    async def render(self, reply: Reply, model: str, parser: Parser) -> dict[str, Any]:
        """The answer's body (`parser` is this request's parser, with what it remembered)."""
        ...

    def encode(self, events: AsyncIterator[Event], model: str, parser: Parser) -> AsyncIterator[bytes]: ...

    def error_payload(self, exc: GatewayError) -> dict[str, Any]: ...

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
    call_in = inbound(request, wire.name, body, parser)
    if session is not None and call_in.origin.session is None:
        call_in = replace(call_in, origin=replace(call_in.origin, session=session))
    request_id = call_in.origin.request_id
    model = str(body.get("model", "")) if isinstance(body, dict) else ""
    try:
        result = await pipeline.run(call_in)
    except ApprovalPending as pending:
        return accepted(pending, request_id)
    except GatewayError as exc:
        return error_response(wire, exc, request_id)
    out_headers = headers(request_id, result.decision_id)
    if hasattr(parser, "decision_id"):  # a parser that keeps the answer keeps the decision id with it
        parser.decision_id = result.decision_id
    if result.stream is not None:
        return await stream_response(wire, result.stream, model, parser, out_headers)
    if result.reply is None:
        raise GatewayError("internal check failed: result.reply is not None")
    try:
        rendered = await wire.render(result.reply, model or result.reply.model, parser)
    except GatewayError as exc:
        return error_response(wire, exc, request_id)
    reply_headers = getattr(wire, "reply_headers", None)  # a format whose answer says more in its headers
    if reply_headers is not None:
        out_headers.update(reply_headers(result.reply))
    return JSONResponse(rendered, headers=out_headers)


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


def accepted(pending: ApprovalPending, request_id: str) -> JSONResponse:
    """202: held, and the agent asked not to wait. It polls the status URL and retries the same request with
    `X-Gateway-Approval: <id>` once approved."""
    approval = pending.approval
    out = headers(request_id, pending.decision_id)
    out.update({"x-gateway-approval": approval["id"], "location": approval["status_url"], "retry-after": "5"})
    return JSONResponse(approval, status_code=202, headers=out)


def error_response(
    wire: WireFormat, exc: GatewayError, request_id: str, decision_id: str | None = None
) -> JSONResponse:
    decision_id = getattr(exc, "decision_id", None) or decision_id
    out = headers(request_id, decision_id)
    if exc.retry_after is not None:  # an outage or a capacity shortfall: the agent may try again shortly
        out["retry-after"] = str(exc.retry_after)
    return JSONResponse(wire.error_payload(exc), status_code=exc.status, headers=out)


def bearer_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key") or None


def origin(request: Request, surface: str) -> Origin:
    prefer = {p.strip().lower() for p in request.headers.get("prefer", "").split(",")}
    end_user = request.headers.get("x-end-user")
    problem = identifier_problem(end_user, MAX_END_USER) if end_user is not None else None
    session = request.headers.get("x-gateway-session")  # the agent names its session (gateway.sessions)
    session_problem = identifier_problem(session, MAX_SESSION, printable=True) if session is not None else None
    invalid = (f"X-End-User {problem}", "X-End-User") if problem else None
    if session_problem and invalid is None:
        invalid = (f"X-Gateway-Session {session_problem}", "X-Gateway-Session")
    return Origin(
        surface=surface,
        request_id=request_id(request.headers.get("x-request-id")),
        end_user=None if problem else end_user,  # never stored as sent: the parse stage refuses the call
        approval_id=(request.headers.get("x-gateway-approval") or "").strip()[:64] or None,
        respond_async="respond-async" in prefer,
        invalid=invalid,
        session=("header", session) if session and not session_problem else None,
    )


def request_id(sent: str | None) -> str:
    """The agent's `X-Request-ID` when it is at most 64 printable characters; otherwise a generated one (the
    answer's `x-request-id` says which), so a hostile id can neither fail the audit insert nor forge log lines."""
    if sent and identifier_problem(sent, MAX_REQUEST_ID, printable=True) is None:
        return sent
    return new_id()


def inbound(request: Request, surface: str, body: Any, parser: Parser) -> Inbound:
    key = bearer_key(request)
    return Inbound(origin(request, surface), SecretStr(key) if key else None, body, parser)


def ensure_json(body: Any) -> Any:
    if isinstance(body, Unparsable) and body.too_large:
        raise RequestTooLarge(f"the request body is larger than this gateway accepts (over {body.size} bytes read)")
    if isinstance(body, Unparsable):
        raise InvalidRequest(body.reason)
    return body


def headers(request_id: str, decision_id: str | None) -> dict[str, str]:
    """The ids every answer carries: `request-id` too, since the anthropic SDK reads that one."""
    out = {"x-request-id": request_id, "request-id": request_id}
    if decision_id:
        out["x-gateway-decision-id"] = decision_id
    return out


async def _relay(events: AsyncIterator[bytes], wire: WireFormat) -> AsyncIterator[bytes]:
    """Relay encoded events; a gateway error after the stream started becomes the protocol's error event."""
    try:
        async for chunk in events:
            yield chunk
    except GatewayError as exc:
        yield wire.stream_error(exc)
