"""The MCP methods the gateway answers itself, and the ones it hands to the pipeline (`calls`).

initialize                 2025-11-25: opens a session bound to the agent key
server/discover            2026-07-28: the gateway's versions and capabilities
ping, logging/setLevel     answered here
tools/list                 the tools the pins and the policy let this agent see (`listing`)
resources/list, resources/templates/list, prompts/list    upstream's page, less what the policy refuses
tools/call, resources/read, prompts/get                   through the pipeline (`calls`)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as types
from mcp.client.session import ClientSession
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import GatewayError
from gateway.mcp.calls import CALLS, run_call, shape
from gateway.mcp.hub import McpHub
from gateway.mcp.jsonrpc import METHOD_NOT_FOUND, RpcError, error, gateway_error, http_status, result
from gateway.mcp.listing import visible_items, visible_tools
from gateway.mcp.protocol import SESSION_HEADER, Exchange, negotiate
from gateway.mcp.waiting import respond
from gateway.model import Principal
from gateway.services import Services

CAPABILITIES: dict[str, Any] = {"tools": {"listChanged": False}, "resources": {}, "prompts": {}}
CACHE_FIELDS = {"ttlMs": 0, "cacheScope": "private"}  # listings depend on the agent: never shared
Page = types.PaginatedRequestParams | None
Lister = Callable[[ClientSession, Page], Awaitable[types.Result]]
FILTERED: dict[str, Lister] = {
    "resources/list": lambda s, page: s.list_resources(params=page),
    "resources/templates/list": lambda s, page: s.list_resource_templates(params=page),
    "prompts/list": lambda s, page: s.list_prompts(params=page),
}


def _server_info(server: str) -> dict[str, str]:
    return {"name": f"agent-governance-gateway/{server}", "version": "0.1.0"}


def _initialize(hub: McpHub, exchange: Exchange, principal: Principal) -> Response:
    version = negotiate(exchange.message)
    session = hub.open_session(exchange.server, principal.key_id, version)
    body = {"protocolVersion": version, "capabilities": CAPABILITIES, "serverInfo": _server_info(exchange.server)}
    return JSONResponse(result(exchange.request_id, body), headers={SESSION_HEADER: session.session_id})


def _discover(exchange: Exchange) -> dict[str, Any]:
    return {
        "supportedVersions": list(MODERN_PROTOCOL_VERSIONS),
        "capabilities": CAPABILITIES,
        "resultType": "complete",
        **CACHE_FIELDS,
        "_meta": {"io.modelcontextprotocol/serverInfo": _server_info(exchange.server)},
    }


async def _list_tools(services: Services, hub: McpHub, exchange: Exchange, principal: Principal) -> dict[str, Any]:
    entries = await hub.catalog.tools(exchange.server)
    tools = await visible_tools(services, entries, principal, str(exchange.request_id))
    return {"tools": tools, **CACHE_FIELDS}


async def _answer(services: Services, hub: McpHub, exchange: Exchange, principal: Principal) -> dict[str, Any]:
    """The result body of a method answered without the pipeline."""
    method = exchange.method
    if method == "server/discover" and exchange.modern:
        return _discover(exchange)
    if method in ("ping", "logging/setLevel"):
        return {}
    if method == "tools/list":
        return await _list_tools(services, hub, exchange, principal)
    lister = FILTERED.get(method or "")
    if lister is not None and method is not None:
        listed = await _list(hub, exchange, lister)
        visible = await visible_items(services, exchange.server, method, listed, principal, str(exchange.request_id))
        return {**visible, **CACHE_FIELDS}
    raise RpcError(METHOD_NOT_FOUND, f"method not found: {method}")


async def _list(hub: McpHub, exchange: Exchange, lister: Lister) -> dict[str, Any]:
    """One page of an upstream listing (the client's cursor passed on), as wire JSON."""
    params = exchange.message.get("params")
    cursor = params.get("cursor") if isinstance(params, dict) else None
    page = types.PaginatedRequestParams(cursor=cursor) if isinstance(cursor, str) and cursor else None
    listed = await hub.upstream(exchange.server).request(lambda session: lister(session, page))
    return listed.model_dump(mode="json", by_alias=True, exclude_none=True)


async def dispatch(
    request: Request, services: Services, hub: McpHub, exchange: Exchange, principal: Principal
) -> Response:
    headers = {SESSION_HEADER: exchange.session.session_id} if exchange.session else {}
    if exchange.method == "initialize" and not exchange.modern:
        return _initialize(hub, exchange, principal)
    if exchange.method in CALLS:
        params = exchange.message.get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        token = meta.get("progressToken") if isinstance(meta, dict) else None
        try:
            work = run_call(request, request.app.state.pipeline, hub, exchange)
            every = services.settings.approvals.keepalive_s
            return await respond(request, work, token, every, exchange.modern, headers)
        except RpcError as exc:
            message = error(exchange.request_id, exc.rpc_code, exc.message, exc.data)
            return JSONResponse(message, status_code=http_status(message, exchange.modern), headers=headers)
        except GatewayError as exc:  # the upstream's listing, needed to check the tool, failed
            message = gateway_error(exchange.request_id, exc)
            return JSONResponse(message, status_code=http_status(message, exchange.modern), headers=headers)
    try:
        message = result(exchange.request_id, shape(await _answer(services, hub, exchange, principal), exchange.modern))
    except RpcError as exc:
        message = error(exchange.request_id, exc.rpc_code, exc.message, exc.data)
    except GatewayError as exc:
        message = gateway_error(exchange.request_id, exc)
    return JSONResponse(message, status_code=http_status(message, exchange.modern), headers=headers)
