"""The pipeline's hooks for MCP calls: routing a `tool` call to its server, and forwarding it there.

`route.py` routes kind `tool` with `tool_route` and `forward.py` sends it with `forward_tool`. The
upstream's result comes back as a `ChatResponse` whose text is the result's JSON, so the response stages
(PII redaction, the response-phase decision) see what the tool returned; the surface parses it back.
Operations: `tools/call`, `resources/read` (the target is the URI), `prompts/get`.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import mcp_types as types
from mcp.client.session import ClientSession
from pydantic import TypeAdapter

from connectors.base import ChatResponse
from gateway.audit.journal import Journal
from gateway.enforcement import Plan
from gateway.errors import GatewayError, InvalidRequest, RouteNotFound, UpstreamFailed
from gateway.flight import Flight, Route
from gateway.model import Attempt, Call, ToolPayload
from gateway.services import Services, UpstreamKind
from gateway.settings import RouteConfig, RouteTarget, Settings

_RESPONSES: TypeAdapter[dict[str, types.InputResponse]] = TypeAdapter(dict[str, types.InputResponse])


def tool_route(call: Call, plan: Plan | None, settings: Settings) -> Route:
    """A tool call goes to the server it was addressed to (`/mcp/{server}`); the policy cannot re-route it."""
    payload = call.payload
    if not isinstance(payload, ToolPayload):
        raise GatewayError("internal check failed: isinstance(payload, ToolPayload)")
    if payload.server not in settings.mcp_servers:
        raise RouteNotFound(f"no MCP server '{payload.server}' on this gateway")
    return Route(alias=payload.server, config=RouteConfig(provider=payload.server, model=payload.call.name))


async def _send(session: ClientSession, payload: ToolPayload, extras: dict[str, Any]) -> types.Result:
    arguments = json.loads(payload.call.arguments or "{}")
    responses = _RESPONSES.validate_python(extras["inputResponses"]) if extras.get("inputResponses") else None
    state = extras.get("requestState")
    name = payload.call.name
    if payload.operation == "tools/call":
        return await session.call_tool(
            name, arguments, input_responses=responses, request_state=state, allow_input_required=True
        )
    if payload.operation == "resources/read":
        return await session.read_resource(
            name, input_responses=responses, request_state=state, allow_input_required=True
        )
    if payload.operation == "prompts/get":
        return await session.get_prompt(
            name, arguments or None, input_responses=responses, request_state=state, allow_input_required=True
        )
    raise InvalidRequest(f"the gateway does not forward MCP '{payload.operation}' requests")


async def forward_tool(flight: Flight, services: Services, journal: Journal) -> tuple[Flight, ChatResponse]:
    """Send one MCP request upstream; its result (JSON text) as the answer the response stages see."""
    payload = flight.need_call().payload
    if not isinstance(payload, ToolPayload):
        raise GatewayError("internal check failed: isinstance(payload, ToolPayload)")
    hub = services.mcp
    if hub is None:
        raise RouteNotFound("this gateway has no MCP servers")
    upstream = hub.upstream(payload.server)
    extras = hub.extras.pop(flight.origin.call_id, {})
    target = RouteTarget(provider=payload.server, model=payload.call.name)
    try:
        result = await upstream.request(lambda session: _send(session, payload, extras))
    except UpstreamFailed as exc:
        journal.attempt(Attempt(provider=payload.server, model=payload.call.name, status=None, error=exc.message))
        journal.upstream_failed(None)
        raise
    except GatewayError:
        raise
    journal.attempt(Attempt(provider=payload.server, model=payload.call.name, status=200))
    journal.served(payload.server, payload.call.name, 200)
    body = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    text = json.dumps(body, ensure_ascii=False)
    return replace(flight, served=target), ChatResponse(id=flight.origin.call_id, model=payload.server, content=text)


TOOLS = UpstreamKind(route=tool_route, forward=forward_tool)  # MCP servers: one server per call, no fallbacks
