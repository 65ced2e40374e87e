"""The Anthropic surface: `POST /v1/messages` (streaming or not)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors import anthropic_wire
from connectors.anthropic import AnthropicConnector
from connectors.base import ChatRequest, ChatResponse
from connectors.errors import UpstreamError, WireFormatError
from gateway.errors import GatewayError, InvalidRequest, RouteNotFound
from gateway.model import ModelPayload, Parser
from gateway.pipeline import Pipeline
from gateway.reply import KEEPALIVE, Event, KeepAlive, Reply
from gateway.services import Services
from gateway.stages.authenticate import identify
from gateway.stages.forward import to_gateway_error
from gateway.surfaces.common import bearer_key, ensure_json, error_response, handle, headers, origin, read_json

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
}


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
    name = "anthropic"

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

    def error_payload(self, exc: GatewayError) -> dict[str, Any]:
        body = anthropic_wire.error_body(exc.message, ERROR_TYPES.get(exc.status, "api_error"))
        body["error"]["code"] = exc.code
        body["error"].update(exc.details())
        return body

    def stream_error(self, exc: GatewayError) -> bytes:
        return _event("error", self.error_payload(exc))


WIRE = AnthropicFormat()


async def messages(request: Request) -> Response:
    forwarded = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
    return await handle(request, WIRE, parser=_Parser(forwarded))


async def count_tokens(request: Request) -> Response:
    """`POST /v1/messages/count_tokens`: asked of the route's Anthropic provider, or estimated (about four
    characters a token) for other providers; `x-gateway-token-count: provider|estimated` says which."""
    pipeline: Pipeline = request.app.state.pipeline
    services = pipeline.services
    where = origin(request, "anthropic")
    try:
        key = bearer_key(request)
        await identify(SecretStr(key) if key else None, where, services.keys)
        raw = ensure_json(await read_json(request, services.settings.max_request_bytes))
        chat = anthropic_wire.parse_request({"max_tokens": 1, **raw} if isinstance(raw, dict) else raw)
        tokens, source = await _count(services, chat)
    except WireFormatError as exc:
        return error_response(WIRE, InvalidRequest(str(exc), exc.param), where.request_id)
    except UpstreamError as exc:
        return error_response(WIRE, to_gateway_error(exc), where.request_id)
    except GatewayError as exc:
        return error_response(WIRE, exc, where.request_id)
    out = {**headers(where.request_id, None), "x-gateway-token-count": source}
    return JSONResponse({"input_tokens": tokens}, headers=out)


async def _count(services: Services, chat: ChatRequest) -> tuple[int, str]:
    route = services.settings.routes.get(chat.model)
    if route is None:
        raise RouteNotFound(f"the model '{chat.model}' has no route on this gateway")
    connector = services.connector(route)
    if isinstance(connector, AnthropicConnector):
        return await connector.count_tokens(chat, timeout=route.timeout_s), "provider"
    text = sum(len(m.text()) for m in chat.messages) + sum(len(json.dumps(t.parameters)) for t in chat.tools)
    return max(1, text // 4), "estimated"


routes = [
    Route("/v1/messages", messages, methods=["POST"]),
    Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
]
