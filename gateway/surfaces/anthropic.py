"""The Anthropic surface: `POST /v1/messages` (streaming or not)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from connectors import anthropic_wire
from connectors.base import ChatRequest, StreamEvent
from gateway.errors import GatewayError, PolicyDenied
from gateway.pipeline import Pipeline
from gateway.surfaces.common import ensure_json, headers, inbound, read_json, sse

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    503: "overloaded_error",
}


def error_payload(exc: GatewayError) -> dict[str, Any]:
    body = anthropic_wire.error_body(exc.message, ERROR_TYPES.get(exc.status, "api_error"))
    body["error"]["code"] = exc.code
    if isinstance(exc, PolicyDenied):
        body["error"]["reasons"] = exc.reasons
        body["error"]["decision_id"] = exc.decision_id
    return body


def error_response(exc: GatewayError, request_id: str) -> JSONResponse:
    return JSONResponse(error_payload(exc), status_code=exc.status, headers=headers(None, request_id, exc))


def _parse(body: Any) -> ChatRequest:
    return anthropic_wire.parse_request(ensure_json(body))


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


async def _encode(events: AsyncIterator[StreamEvent], renderer: anthropic_wire.EventRenderer) -> AsyncIterator[bytes]:
    async for event in events:
        for name, payload in renderer.render(event):
            yield _event(name, payload)


def _stream_error(exc: GatewayError) -> bytes:
    return _event("error", error_payload(exc))


async def messages(request: Request) -> Response:
    pipeline: Pipeline = request.app.state.pipeline
    body = await read_json(request)
    call_in = inbound(request, "anthropic", body)
    try:
        if isinstance(body, dict) and body.get("stream") is True:
            events, trace = await pipeline.stream(call_in, _parse)
            encoded = _encode(events, anthropic_wire.EventRenderer(body.get("model", "")))
            return StreamingResponse(
                sse(encoded, _stream_error), media_type="text/event-stream", headers=headers(trace, call_in.request_id)
            )
        response, trace = await pipeline.complete(call_in, _parse)
    except GatewayError as exc:
        return error_response(exc, call_in.request_id)
    payload = anthropic_wire.render_response(response, body.get("model", response.model))
    return JSONResponse(payload, headers=headers(trace, call_in.request_id))


routes = [Route("/v1/messages", messages, methods=["POST"])]
