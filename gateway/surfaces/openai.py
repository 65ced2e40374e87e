"""The OpenAI surface: `POST /v1/chat/completions` (streaming or not), `POST /v1/embeddings`, `GET /v1/models`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors import openai_wire
from connectors.base import ChatRequest, EmbeddingResponse
from gateway.errors import GatewayError, RouteNotFound
from gateway.listing import allowed_routes
from gateway.model import Call, Decision, EmbeddingsPayload, ModelPayload, Origin, Parser
from gateway.pipeline import Pipeline
from gateway.policy.input import build_input
from gateway.reply import KEEPALIVE, Event, KeepAlive, Reply
from gateway.services import Services
from gateway.stages.authenticate import identify
from gateway.stages.decide import evaluate
from gateway.surfaces.anthropic import WIRE as ANTHROPIC_WIRE
from gateway.surfaces.common import bearer_key, ensure_json, error_response, handle, headers, origin

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_denied",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


class _ChatParser:
    """Parses a chat body; remembers whether the agent asked for usage in the stream."""

    include_usage = False

    def __call__(self, body: Any) -> ModelPayload:
        request, self.include_usage = openai_wire.parse_request(ensure_json(body))
        return ModelPayload(request=request)


def _parse_embeddings(body: Any) -> EmbeddingsPayload:
    return EmbeddingsPayload(request=openai_wire.parse_embedding_request(ensure_json(body)))


class OpenAIFormat:
    """Chat completions (`embeddings=False`) or embeddings, in OpenAI's wire format."""

    name = "openai"

    def __init__(self, embeddings: bool = False) -> None:
        self.embeddings = embeddings

    def parser(self) -> Parser:
        return _parse_embeddings if self.embeddings else _ChatParser()

    async def render(self, reply: Reply, model: str, parser: Parser) -> dict[str, Any]:
        if isinstance(reply, EmbeddingResponse):
            return openai_wire.render_embedding_response(reply, model)
        return openai_wire.render_response(reply, model)

    async def encode(self, events: AsyncIterator[Event], model: str, parser: Parser) -> AsyncIterator[bytes]:
        renderer = openai_wire.ChunkRenderer(model, isinstance(parser, _ChatParser) and parser.include_usage)
        async for event in events:
            if isinstance(event, KeepAlive):
                yield KEEPALIVE
                continue
            for chunk in renderer.render(event):
                yield f"data: {openai_wire.dumps(chunk)}\n\n".encode()
        yield b"data: [DONE]\n\n"

    def error_payload(self, exc: GatewayError) -> dict[str, Any]:
        type_ = ERROR_TYPES.get(exc.status, "api_error")
        body = openai_wire.error_body(exc.message, type_, exc.code, getattr(exc, "param", None))
        body["error"].update(exc.details())
        return body

    def stream_error(self, exc: GatewayError) -> bytes:
        return f"data: {openai_wire.dumps(self.error_payload(exc))}\n\n".encode()


WIRE = OpenAIFormat()
EMBEDDINGS_WIRE = OpenAIFormat(embeddings=True)


async def chat_completions(request: Request) -> Response:
    return await handle(request, WIRE)


async def embeddings(request: Request) -> Response:
    return await handle(request, EMBEDDINGS_WIRE)


async def list_models(request: Request) -> Response:
    """The routes this agent may use, in the OpenAI shape, or Anthropic's when an Anthropic SDK asks."""
    pipeline: Pipeline = request.app.state.pipeline
    anthropic = "anthropic-version" in request.headers
    key = bearer_key(request)
    where = origin(request, "anthropic" if anthropic else "openai")
    try:
        allowed = await allowed_routes(pipeline.services, SecretStr(key) if key else None, where)
    except GatewayError as exc:
        return error_response(ANTHROPIC_WIRE if anthropic else WIRE, exc, where.request_id)
    if anthropic:
        data = [{"type": "model", "id": a, "display_name": a, "created_at": "1970-01-01T00:00:00Z"} for a in allowed]
        first, last = (allowed[0], allowed[-1]) if allowed else (None, None)
        return JSONResponse({"data": data, "has_more": False, "first_id": first, "last_id": last})
    return JSONResponse(
        {"object": "list", "data": [{"id": a, "object": "model", "created": 0, "owned_by": "gateway"} for a in allowed]}
    )


async def get_model(request: Request) -> Response:
    """One route the agent may use, in the OpenAI shape, or Anthropic's when an Anthropic SDK asks."""
    pipeline: Pipeline = request.app.state.pipeline
    anthropic = "anthropic-version" in request.headers
    key = bearer_key(request)
    where = origin(request, "anthropic" if anthropic else "openai")
    model_id = request.path_params["model_id"]
    try:
        decision = await _route_decision(pipeline.services, SecretStr(key) if key else None, where, model_id)
        if decision is None or not decision.allow:
            raise RouteNotFound(f"the model '{model_id}' has no route on this gateway that this agent may use")
    except GatewayError as exc:
        return error_response(ANTHROPIC_WIRE if anthropic else WIRE, exc, where.request_id)
    out = headers(where.request_id, decision.decision_id)  # the request-phase decision for this route
    if anthropic:
        body = {"type": "model", "id": model_id, "display_name": model_id, "created_at": "1970-01-01T00:00:00Z"}
        return JSONResponse(body, headers=out)
    return JSONResponse({"id": model_id, "object": "model", "created": 0, "owned_by": "gateway"}, headers=out)


async def _route_decision(services: Services, key: SecretStr | None, where: Origin, alias: str) -> Decision | None:
    """The policy's request-phase decision for this agent on the route `alias` (None: no such route), as
    `GET /v1/models` asks it per route (`gateway.listing`)."""
    principal = await identify(key, where, services.keys)
    if alias not in services.settings.routes:
        return None
    payload = ModelPayload(request=ChatRequest(model=alias, messages=[]))
    probe = Call(surface=where.surface, principal=principal, request_id=where.request_id, payload=payload)
    input_doc = build_input(probe, "request", list(services.settings.routes), [])
    return await evaluate(services.policy, input_doc, services.settings.policy, services.metrics)


routes = [
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/embeddings", embeddings, methods=["POST"]),
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model_id:path}", get_model, methods=["GET"]),
]
