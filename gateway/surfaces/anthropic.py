"""The Anthropic surface: `POST /v1/messages` (streaming or not)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors import anthropic_wire
from connectors.base import ChatResponse
from gateway.errors import GatewayError, InvalidRequest
from gateway.model import ModelPayload, Parser
from gateway.reply import KEEPALIVE, Event, KeepAlive, Reply
from gateway.surfaces.common import ensure_json, handle

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
}


def _parse(body: Any) -> ModelPayload:
    return ModelPayload(request=anthropic_wire.parse_request(ensure_json(body)))


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


class AnthropicFormat:
    name = "anthropic"

    def parser(self) -> Parser:
        return _parse

    def render(self, reply: Reply, model: str) -> dict[str, Any]:
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
    return await handle(request, WIRE)


routes = [Route("/v1/messages", messages, methods=["POST"])]
