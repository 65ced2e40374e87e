"""The Anthropic surface: `POST /v1/messages` (streaming or not)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors import anthropic_wire
from connectors.base import ChatResponse
from gateway import rendering
from gateway.errors import GatewayError, InvalidRequest
from gateway.model import ModelPayload, Parser
from gateway.reply import KEEPALIVE, Event, KeepAlive, Reply
from gateway.stages.forward import TOKEN_COUNT
from gateway.surfaces.common import ensure_json, handle

FORWARDED_HEADERS = ("anthropic-beta",)  # sent on to an Anthropic provider (betas change what a request means)


class _Parser:
    """Parses a Messages body, with the headers the agent sent for its provider."""

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        self.headers = headers or {}

    def __call__(self, body: Any) -> ModelPayload:
        request = anthropic_wire.parse_request(ensure_json(body))
        if self.headers:
            request.headers = {"anthropic": dict(self.headers)}
        return ModelPayload(request=request)


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


class AnthropicFormat:
    name: Literal["anthropic"] = "anthropic"

    def parser(self) -> Parser:
        return _Parser()

    async def render(self, reply: Reply, model: str, parser: Parser) -> dict[str, Any]:
        if not isinstance(reply, ChatResponse):
            raise InvalidRequest("the Anthropic surface answers messages only")
        return anthropic_wire.render_response(reply, model)

    async def encode(self, events: AsyncIterator[Event], model: str, parser: Parser) -> AsyncIterator[bytes]:
        renderer = anthropic_wire.EventRenderer(model)
        async for event in events:
            if isinstance(event, KeepAlive):
                yield KEEPALIVE
                continue
            for name, payload in renderer.render(event):
                yield _event(name, payload)

    def stream_error(self, exc: GatewayError) -> bytes:
        return _event("error", rendering.anthropic_body(exc))


WIRE = AnthropicFormat()


async def messages(request: Request) -> Response:
    forwarded = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
    return await handle(request, WIRE, parser=_Parser(forwarded))


class _CountParser(_Parser):
    """A count_tokens body: a Messages body without `max_tokens`, counted rather than answered."""

    def __call__(self, body: Any) -> ModelPayload:
        body = ensure_json(body)
        payload = super().__call__({"max_tokens": 1, **body} if isinstance(body, dict) else body)
        return ModelPayload(request=payload.request, api="count_tokens")


class CountTokensFormat(AnthropicFormat):
    """`{"input_tokens": N}`, and `x-gateway-token-count: provider|estimated` saying where N came from."""

    async def render(self, reply: Reply, model: str, parser: Parser) -> dict[str, Any]:
        if not isinstance(reply, ChatResponse):
            raise InvalidRequest("count_tokens answers a count only")
        return {"input_tokens": reply.usage.input_tokens}

    def reply_headers(self, reply: Reply) -> dict[str, str]:
        source = (reply.extras.get("gateway") or {}).get(TOKEN_COUNT) if isinstance(reply, ChatResponse) else None
        return {"x-gateway-token-count": str(source)} if source else {}


COUNT_WIRE = CountTokensFormat()


async def count_tokens(request: Request) -> Response:
    """`POST /v1/messages/count_tokens`: a call of its own through the pipeline (`input.call.operation:
    "count_tokens"`): decided, redacted and audited like a message, then counted by the route's Anthropic
    provider, or estimated for other providers."""
    forwarded = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
    return await handle(request, COUNT_WIRE, parser=_CountParser(forwarded))


routes = [
    Route("/v1/messages", messages, methods=["POST"]),
    Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
]
