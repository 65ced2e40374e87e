"""The OpenAI surface: `POST /v1/chat/completions` (streaming or not), `POST /v1/embeddings`, `GET /v1/models`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors import openai_wire
from connectors.base import EmbeddingResponse
from gateway import rendering
from gateway.adapter import serve
from gateway.errors import GatewayError
from gateway.model import EmbeddingsPayload, ListPayload, ModelPayload, Parser
from gateway.reply import KEEPALIVE, Event, KeepAlive, Reply
from gateway.surfaces.common import ensure_json, handle


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

    name: Literal["openai"] = "openai"

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

    def stream_error(self, exc: GatewayError) -> bytes:
        return f"data: {openai_wire.dumps(rendering.openai_body(exc))}\n\n".encode()


WIRE = OpenAIFormat()
EMBEDDINGS_WIRE = OpenAIFormat(embeddings=True)


async def chat_completions(request: Request) -> Response:
    return await handle(request, WIRE)


async def embeddings(request: Request) -> Response:
    return await handle(request, EMBEDDINGS_WIRE)


def _model(alias: str, anthropic: bool) -> dict[str, Any]:
    if anthropic:
        return {"type": "model", "id": alias, "display_name": alias, "created_at": "1970-01-01T00:00:00Z"}
    return {"id": alias, "object": "model", "created": 0, "owned_by": "gateway"}


async def list_models(request: Request) -> Response:
    """The routes this agent may use (a listing, `gateway.listing`), in the OpenAI shape, or Anthropic's when an
    Anthropic SDK asks."""
    anthropic = "anthropic-version" in request.headers

    def render(body: dict[str, Any]) -> dict[str, Any]:
        allowed = body["models"]
        data = [_model(alias, anthropic) for alias in allowed]
        if anthropic:
            first, last = (allowed[0], allowed[-1]) if allowed else (None, None)
            return {"data": data, "has_more": False, "first_id": first, "last_id": last}
        return {"object": "list", "data": data}

    payload = ListPayload(operation="models", scope="models")
    return await serve(request, "anthropic" if anthropic else "openai", payload, render)


async def get_model(request: Request) -> Response:
    """One route the agent may use (a listing of that one), in the OpenAI shape or Anthropic's."""
    anthropic = "anthropic-version" in request.headers
    payload = ListPayload(operation="models", scope="models", params={"id": request.path_params["model_id"]})
    return await serve(
        request, "anthropic" if anthropic else "openai", payload, lambda body: _model(body["models"][0], anthropic)
    )


routes = [
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/embeddings", embeddings, methods=["POST"]),
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model_id:path}", get_model, methods=["GET"]),
]
