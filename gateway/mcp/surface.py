"""MCP at `/mcp/{server}`: the streamable HTTP transport, both revisions, in front of one upstream server.

    POST    one JSON-RPC message: a request (answered as JSON, or as SSE while it waits), or a notification
            or response (202)
    GET     405: the gateway opens no server-initiated stream
    DELETE  ends a 2025-11-25 session

Agents authenticate with their gateway key (`Authorization: Bearer`); the upstream's credentials stay in
the gateway's config. `tools/list` shows what the pins and the policy allow this agent (`listing`);
`tools/call`, `resources/read` and `prompts/get` run through the pipeline (`calls`); other listings are
passed through.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.adapter import origin, presented_key
from gateway.errors import GatewayError, ProtocolRefused
from gateway.mcp import methods
from gateway.mcp.hub import McpHub
from gateway.mcp.jsonrpc import error_reply, refused
from gateway.mcp.protocol import SESSION_HEADER, Exchange, check_legacy, check_modern, is_modern
from gateway.mcp.refusals import audit_refusal
from gateway.model import Principal
from gateway.rendering import INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR
from gateway.services import Services
from gateway.stages.authenticate import identify
from gateway.surfaces.common import read_json


def _hub(services: Services, server: str) -> McpHub:
    hub = services.mcp
    if hub is None or server not in hub.upstreams:
        raise refused(METHOD_NOT_FOUND, f"no MCP server '{server}' on this gateway", http_status=404)
    return hub


async def _principal(request: Request, services: Services) -> Principal:
    return await identify(presented_key(request), origin(request, "mcp"), services.keys)


async def _message(request: Request, services: Services) -> dict[str, Any]:
    body = await read_json(request, services.settings.max_request_bytes)
    if not isinstance(body, dict):
        if isinstance(body, list):
            raise refused(INVALID_REQUEST, "JSON-RPC batches are not supported", http_status=400)
        raise refused(PARSE_ERROR, "the body is not a JSON-RPC message", http_status=400)
    return body


async def post(request: Request) -> Response:
    services: Services = request.app.state.pipeline.services
    server = request.path_params["server"]
    modern, request_id, principal, message = True, None, None, {}
    try:
        hub = _hub(services, server)
        message = await _message(request, services)
        modern, request_id = is_modern(request, message), message.get("id")
        principal = await _principal(request, services)
        if modern:
            exchange = check_modern(request, server, message)
        else:
            exchange = check_legacy(request, hub, server, message, principal)
    except ProtocolRefused as exc:
        if principal is not None:  # an agent's malformed or mismatched request: refused, and audited
            await audit_refusal(services, request, principal, server, message, exc)
        return error_reply(request_id, exc, modern)
    except GatewayError as exc:  # an unknown or missing key
        return error_reply(request_id, exc, modern)
    if exchange.method is None or "id" not in message:  # a notification, or a response to us
        return Response(status_code=202)
    return await methods.dispatch(request, services, hub, exchange, principal)


async def get(request: Request) -> Response:
    return Response(status_code=405, headers={"allow": "POST, DELETE"})


async def delete(request: Request) -> Response:
    services: Services = request.app.state.pipeline.services
    hub = services.mcp
    session_id = request.headers.get(SESSION_HEADER, "")
    try:
        principal = await _principal(request, services)
    except GatewayError:
        return Response(status_code=401, headers={"www-authenticate": "Bearer"})
    session = hub.session(session_id) if hub else None
    if hub is None or session is None or session.key_id != principal.key_id:
        return Response(status_code=404)
    hub.end(session_id)
    return Response(status_code=200)


routes = [
    Route("/mcp/{server}", post, methods=["POST"]),
    Route("/mcp/{server}", get, methods=["GET"]),
    Route("/mcp/{server}", delete, methods=["DELETE"]),
]

__all__ = ["Exchange", "routes"]
