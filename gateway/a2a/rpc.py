"""A2A JSON-RPC at `/a2a/{agent}`: each request runs through the pipeline as one `kind: agent` call.

The payload's text is the request's `params` as JSON (so inspection and redaction see the whole message,
and what is forwarded is exactly what was decided); `operation` is the method. Both method vocabularies are
proxied as they came: A2A 1.0 (`SendMessage`, `SendStreamingMessage`, `GetTask`, ...) and 0.3
(`message/send`, `message/stream`, `tasks/get`, ...). A streaming method is answered as SSE, each upstream
event relayed as it arrives, once the response stages have inspected, redacted and decided it
(`gateway.a2a.live`); a denial of what came back ends the stream with a JSON-RPC error event, and a caller
that leaves closes the upstream stream.

Errors are JSON-RPC errors with the gateway's stable code in `error.data.code` (as on `/mcp/{server}`). The
JSON-RPC codes stay clear of A2A's own (`-32001`..`-32009`: task not found, ...), which clients map to
typed errors: `-32050` denied, held (`respond-async`) and rejected, expired or refused; `-32051` (HTTP 401) a
missing or unknown key; `-32601` an unknown method; `-32602` bad params or an unknown agent; an upstream's
own JSON-RPC error passed back as it came; anything else `-32000`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from connectors.a2a import V03_METHODS, V1_METHODS
from connectors.base import TextDelta
from gateway import rendering
from gateway.a2a.events import final
from gateway.adapter import enter, inbound, origin, parsed_json
from gateway.errors import GatewayError, InvalidRequest, MethodNotFound, UnreadableAfterRedaction
from gateway.mcp.jsonrpc import RequestId, result
from gateway.model import AGENT_STREAMS, MAX_SESSION, AgentPayload, Origin
from gateway.pipeline import Pipeline, Result
from gateway.rendering import jsonrpc_error
from gateway.reply import KEEPALIVE, Event, KeepAlive
from gateway.surfaces.common import EventStreamResponse


def parser(agent: str, message: dict[str, Any]) -> Any:
    """The parse stage's parser for one JSON-RPC request to `agent` (it raises inside the pipeline, so a
    malformed request from a known agent key is audited)."""

    def parse(_: Any) -> AgentPayload:
        method, params = message.get("method"), message.get("params", {})
        if not isinstance(method, str) or method not in V1_METHODS | V03_METHODS:
            raise MethodNotFound(f"the gateway does not proxy A2A method '{str(method)[:100]}'", "method")
        if not isinstance(params, dict):
            raise InvalidRequest("params must be an object", "params")
        return AgentPayload(agent=agent, operation=method, text=json.dumps(params, ensure_ascii=False))

    return parse


def session_origin(request: Request, message: dict[str, Any]) -> Origin:
    """The call's origin; its session the message's `contextId` unless the caller named one (X-Gateway-Session)."""
    came = origin(request, "a2a")
    params = message.get("params")
    sent = params.get("message") if isinstance(params, dict) else None
    context = sent.get("contextId") if isinstance(sent, dict) else None
    if came.session is None and isinstance(context, str) and 0 < len(context) <= MAX_SESSION:
        came = replace(came, session=("a2a", context))
    return came


def rpc_error(request_id: RequestId, exc: GatewayError) -> dict[str, Any]:
    return jsonrpc_error("a2a", request_id, exc)


def _sse(message: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(message, ensure_ascii=False)}\n\n".encode()


async def _replayed(text: str) -> AsyncIterator[Event]:
    yield TextDelta(text=text)


async def _live(request_id: RequestId, events: AsyncIterator[Event]) -> AsyncIterator[bytes]:
    """The stream's events as SSE, each as soon as its JSON line is whole, but the last (a message, an ending
    state): it goes once the whole answer was decided, since a client stops reading there. A gateway error (a
    denial of what came back, an upstream failure) ends the stream with a JSON-RPC error event instead."""
    pending, last = "", None
    try:
        async for event in events:
            if isinstance(event, KeepAlive):
                yield KEEPALIVE
            elif isinstance(event, TextDelta):
                pending += event.text
                while "\n" in pending:
                    line, pending = pending.split("\n", 1)
                    parsed = _event(line)
                    if final(parsed):
                        last = parsed
                    else:
                        yield _sse({"jsonrpc": "2.0", "id": request_id, **parsed})
    except GatewayError as exc:
        yield _sse(rpc_error(request_id, exc))
        return
    if last is not None:
        yield _sse({"jsonrpc": "2.0", "id": request_id, **last})


def _event(line: str) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except ValueError:  # a redaction that broke the JSON text: withhold rather than guess
        raise UnreadableAfterRedaction("the agent's answer") from None
    if not isinstance(event, dict):
        raise GatewayError("the agent sent a stream event that is not an object")
    return event


async def answer(request: Request, pipeline: Pipeline, agent: str, message: dict[str, Any]) -> Response:
    """Run one JSON-RPC request through the pipeline; its answer (JSON, or SSE for a streaming method)."""
    request_id = message.get("id")
    came = session_origin(request, message)

    async def relay(outcome: Result, out: dict[str, str]) -> Response:
        if outcome.stream is not None:  # relayed live, event by event
            return EventStreamResponse(outcome.stream, _live(request_id, outcome.stream), out)
        text = getattr(outcome.reply, "content", None) or "null"
        if message.get("method") in AGENT_STREAMS:  # a held stream's answer, approved: delivered as it was kept
            return StreamingResponse(_live(request_id, _replayed(text)), media_type="text/event-stream", headers=out)
        body = parsed_json(text, "the agent's answer")
        return JSONResponse(result(request_id, body["result"]), headers=out)

    def fail(exc: GatewayError, out: dict[str, str]) -> Response:
        return rendering.response("a2a", exc, came.request_id, exc.decision_id, rpc_id=request_id)

    return await enter(pipeline, inbound(request, came, message, parser(agent, message)), relay, fail)


__all__ = ["answer"]
