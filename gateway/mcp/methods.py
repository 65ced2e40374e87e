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
from dataclasses import replace
from typing import Any

import mcp_types as types
from mcp.client.session import ClientSession
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.adapter import enter, inbound, origin, parsed_json, pipeline_of
from gateway.errors import GatewayError, MethodNotFound, RouteNotFound
from gateway.mcp.calls import CALLS, run_call, shape
from gateway.mcp.hub import McpHub
from gateway.mcp.jsonrpc import error_reply, http_status, result
from gateway.mcp.listing import visible_items, visible_tools
from gateway.mcp.protocol import SESSION_HEADER, Exchange, negotiate
from gateway.mcp.waiting import respond
from gateway.model import Call, ListPayload, Principal
from gateway.pipeline import Result
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


async def _answer(exchange: Exchange) -> dict[str, Any]:
    """The result body of a method the gateway answers itself, with nothing of the upstream's."""
    method = exchange.method
    if method == "server/discover" and exchange.modern:
        return _discover(exchange)
    if method in ("ping", "logging/setLevel"):
        return {}
    raise MethodNotFound(f"method not found: {method}")


def _server(call: Call, services: Services) -> McpHub:
    hub = services.mcp
    if hub is None or call.target not in hub.upstreams:
        raise RouteNotFound(f"no MCP server '{call.target}' on this gateway")
    return hub


async def list_tools(call: Call, services: Services) -> dict[str, Any]:
    """`tools/list`: the server's offered tools (`catalog`) this agent may call."""
    entries = await _server(call, services).catalog.tools(call.target)
    return {"tools": await visible_tools(services, entries, call.principal, call.request_id)}


async def list_items(call: Call, services: Services) -> dict[str, Any]:
    """`resources/list`, `resources/templates/list`, `prompts/list`: one page of the server's listing (the
    client's cursor passed on), without the items this agent may not use."""
    hub, lister = _server(call, services), FILTERED[call.operation]
    cursor = call.payload.params.get("cursor") if isinstance(call.payload, ListPayload) else None
    page = types.PaginatedRequestParams(cursor=cursor) if cursor else None
    listed = await hub.upstream(call.target).request(lambda session: lister(session, page))
    body = listed.model_dump(mode="json", by_alias=True, exclude_none=True)
    return await visible_items(services, call.target, call.operation, body, call.principal, call.request_id)


LISTS = {"tools/list": list_tools, **{method: list_items for method in FILTERED}}  # `kind: list` calls


async def _listing(request: Request, exchange: Exchange, headers: dict[str, str]) -> Response:
    """A listing through the pipeline (`kind: list`): decided, filtered item by item, audited."""
    params = exchange.message.get("params")
    cursor = params.get("cursor") if isinstance(params, dict) else None
    method = str(exchange.method)
    page = {"cursor": cursor[:4096]} if isinstance(cursor, str) and cursor else {}
    payload = ListPayload(operation=method, scope=exchange.server, params=page)
    came = origin(request, "mcp")
    if came.session is None and exchange.session is not None:
        came = replace(came, session=("mcp", exchange.session.session_id))

    async def answer(outcome: Result, out: dict[str, str]) -> Response:
        body = parsed_json(getattr(outcome.reply, "content", None), "the listing")
        message = result(exchange.request_id, shape({**body, **CACHE_FIELDS}, exchange.modern))
        return JSONResponse(message, status_code=http_status(message, exchange.modern), headers={**headers, **out})

    def fail(exc: GatewayError, out: dict[str, str]) -> Response:
        return error_reply(exchange.request_id, exc, exchange.modern, {**headers, **out})

    call = inbound(request, came, exchange.message, lambda _: payload)
    return await enter(pipeline_of(request), call, answer, fail)


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
            work = run_call(request, pipeline_of(request), hub, exchange)
            every = services.settings.approvals.keepalive_s
            return await respond(request, work, token, every, exchange.modern, headers)
        except GatewayError as exc:  # a malformed call, or the upstream's listing (to check the tool) failed
            return error_reply(exchange.request_id, exc, exchange.modern, headers)
    if exchange.method in LISTS:
        return await _listing(request, exchange, headers)
    try:
        message = result(exchange.request_id, shape(await _answer(exchange), exchange.modern))
    except GatewayError as exc:
        return error_reply(exchange.request_id, exc, exchange.modern, headers)
    return JSONResponse(message, status_code=http_status(message, exchange.modern), headers=headers)
