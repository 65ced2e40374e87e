"""The OpenAI surface: `POST /v1/chat/completions` (streaming or not), `POST /v1/embeddings`, `GET /v1/models`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors import openai_wire
from connectors.base import ChatRequest, ChatResponse, EmbeddingRequest, StreamEvent
from gateway.errors import GatewayError, PolicyDenied
from gateway.pipeline import Parser, Pipeline
from gateway.surfaces.anthropic import WIRE as ANTHROPIC_WIRE
from gateway.surfaces.common import (
    SurfaceName,
    ensure_json,
    error_response,
    handle,
    headers,
    inbound,
    read_json,
)

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_denied",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


class _Parser:
    """Parses the body; remembers whether the agent asked for usage in the stream."""

    include_usage = False

    def __call__(self, body: Any) -> ChatRequest:
        request, self.include_usage = openai_wire.parse_request(ensure_json(body))
        return request


class OpenAIFormat:
    name: SurfaceName = "openai"

    def parser(self) -> Parser:
        return _Parser()

    def render(self, response: ChatResponse, model: str) -> dict[str, Any]:
        return openai_wire.render_response(response, model)

    async def encode(self, events: AsyncIterator[StreamEvent], model: str, parser: Parser) -> AsyncIterator[bytes]:
        renderer = openai_wire.ChunkRenderer(model, isinstance(parser, _Parser) and parser.include_usage)
        async for event in events:
            for chunk in renderer.render(event):
                yield f"data: {openai_wire.dumps(chunk)}\n\n".encode()
        yield b"data: [DONE]\n\n"

    def error_payload(self, exc: GatewayError) -> dict[str, Any]:
        type_ = ERROR_TYPES.get(exc.status, "api_error")
        body = openai_wire.error_body(exc.message, type_, exc.code, getattr(exc, "param", None))
        if isinstance(exc, PolicyDenied):
            body["error"]["reasons"] = exc.reasons
            body["error"]["decision_id"] = exc.decision_id
        return body

    def stream_error(self, exc: GatewayError) -> bytes:
        return f"data: {openai_wire.dumps(self.error_payload(exc))}\n\n".encode()


WIRE = OpenAIFormat()


async def chat_completions(request: Request) -> Response:
    return await handle(request, WIRE)


def _parse_embeddings(body: Any) -> EmbeddingRequest:
    return openai_wire.parse_embedding_request(ensure_json(body))


async def embeddings(request: Request) -> Response:
    pipeline: Pipeline = request.app.state.pipeline
    body = await read_json(request, pipeline.services.settings.max_request_bytes)
    call_in = inbound(request, "openai", body)
    try:
        response, trace = await pipeline.embed(call_in, _parse_embeddings)
    except GatewayError as exc:
        return error_response(WIRE, exc, call_in.request_id)
    model = str(body.get("model", "")) if isinstance(body, dict) else response.model
    return JSONResponse(
        openai_wire.render_embedding_response(response, model), headers=headers(trace, call_in.request_id)
    )


async def list_models(request: Request) -> Response:
    """The routes this agent may use, in the OpenAI shape, or Anthropic's when an Anthropic SDK asks."""
    pipeline: Pipeline = request.app.state.pipeline
    anthropic = "anthropic-version" in request.headers
    call_in = inbound(request, "anthropic" if anthropic else "openai", None)
    try:
        allowed = [alias for alias, _ in await pipeline.allowed_routes(call_in)]
    except GatewayError as exc:
        return error_response(ANTHROPIC_WIRE if anthropic else WIRE, exc, call_in.request_id)
    if anthropic:
        data = [{"type": "model", "id": a, "display_name": a, "created_at": "1970-01-01T00:00:00Z"} for a in allowed]
        first, last = (allowed[0], allowed[-1]) if allowed else (None, None)
        return JSONResponse({"data": data, "has_more": False, "first_id": first, "last_id": last})
    return JSONResponse(
        {"object": "list", "data": [{"id": a, "object": "model", "created": 0, "owned_by": "gateway"} for a in allowed]}
    )


routes = [
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/embeddings", embeddings, methods=["POST"]),
    Route("/v1/models", list_models, methods=["GET"]),
]
