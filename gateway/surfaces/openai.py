"""The OpenAI surface: `POST /v1/chat/completions` (streaming or not) and `GET /v1/models`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from connectors import openai_wire
from connectors.base import ChatRequest, StreamEvent
from gateway.errors import GatewayError, PolicyDenied
from gateway.pipeline import Pipeline
from gateway.surfaces.common import ensure_json, headers, inbound, read_json, sse

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_denied",
    404: "not_found_error",
    429: "rate_limit_error",
}


def error_payload(exc: GatewayError) -> dict[str, Any]:
    type_ = ERROR_TYPES.get(exc.status, "api_error")
    body = openai_wire.error_body(exc.message, type_, exc.code, getattr(exc, "param", None))
    if isinstance(exc, PolicyDenied):
        body["error"]["reasons"] = exc.reasons
        body["error"]["decision_id"] = exc.decision_id
    return body


def error_response(exc: GatewayError, request_id: str) -> JSONResponse:
    return JSONResponse(error_payload(exc), status_code=exc.status, headers=headers(None, request_id, exc))


class _Parse:
    """Parses the body; remembers whether the agent asked for usage in the stream."""

    include_usage = False

    def __call__(self, body: Any) -> ChatRequest:
        request, self.include_usage = openai_wire.parse_request(ensure_json(body))
        return request


async def _encode(events: AsyncIterator[StreamEvent], renderer: openai_wire.ChunkRenderer) -> AsyncIterator[bytes]:
    async for event in events:
        for chunk in renderer.render(event):
            yield f"data: {openai_wire.dumps(chunk)}\n\n".encode()
    yield b"data: [DONE]\n\n"


def _stream_error(exc: GatewayError) -> bytes:
    return f"data: {openai_wire.dumps(error_payload(exc))}\n\n".encode()


async def chat_completions(request: Request) -> Response:
    pipeline: Pipeline = request.app.state.pipeline
    body = await read_json(request)
    call_in = inbound(request, "openai", body)
    parse = _Parse()
    wants_stream = isinstance(body, dict) and body.get("stream") is True
    try:
        if wants_stream:
            events, trace = await pipeline.stream(call_in, parse)
            model = body.get("model", "")
            encoded = _encode(events, openai_wire.ChunkRenderer(model, parse.include_usage))
            return StreamingResponse(
                sse(encoded, _stream_error), media_type="text/event-stream", headers=headers(trace, call_in.request_id)
            )
        response, trace = await pipeline.complete(call_in, parse)
    except GatewayError as exc:
        return error_response(exc, call_in.request_id)
    payload = openai_wire.render_response(response, body.get("model", response.model))
    return JSONResponse(payload, headers=headers(trace, call_in.request_id))


async def list_models(request: Request) -> Response:
    pipeline: Pipeline = request.app.state.pipeline
    call_in = inbound(request, "openai", None)
    try:
        allowed = await pipeline.allowed_routes(call_in)
    except GatewayError as exc:
        return error_response(exc, call_in.request_id)
    data = [{"id": alias, "object": "model", "created": 0, "owned_by": route.provider} for alias, route in allowed]
    return JSONResponse({"object": "list", "data": data})


routes = [
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/models", list_models, methods=["GET"]),
]
