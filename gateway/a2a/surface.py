"""Other agents at `/a2a/{agent}`, each configured under `agents:`.

    POST /a2a/{agent}                              A2A: one JSON-RPC request (`rpc`); http: a JSON body (`plain`)
    GET  /a2a/{agent}/.well-known/agent-card.json  the agent's card, its URL rewritten to the gateway (`card`)
    GET  /a2a/{agent}/.well-known/agent.json       the same (the card's 0.3 path)

Callers authenticate with their gateway key (`Authorization: Bearer`), for the card too; the upstream's
credentials and address stay in the gateway.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import rendering
from gateway.a2a import plain, rpc
from gateway.a2a.card import rewrite
from gateway.a2a.hub import AgentHub
from gateway.adapter import pipeline_of, serve
from gateway.errors import ProtocolRefused, RouteNotFound
from gateway.model import Call, ReadPayload
from gateway.pipeline import Pipeline
from gateway.rendering import INVALID_REQUEST, PARSE_ERROR
from gateway.services import Services
from gateway.surfaces.common import read_json


def _hub(services: Services, agent: str, card: bool = False) -> AgentHub:
    if services.a2a is None or agent not in services.a2a.agents:
        raise RouteNotFound(f"no agent '{agent}' on this gateway")
    if card and services.a2a.agents[agent].protocol != "a2a":
        raise RouteNotFound(f"agent '{agent}' is a plain HTTP agent: it has no agent card")
    return services.a2a


async def post(request: Request) -> Response:
    pipeline: Pipeline = request.app.state.pipeline
    services, agent = pipeline.services, request.path_params["agent"]
    request_id = rendering.request_id_of(request)
    try:
        hub = _hub(services, agent)
    except RouteNotFound as exc:
        refused = ProtocolRefused(INVALID_REQUEST, exc.message, exc.code)
        return rendering.response("a2a", refused, request_id, status=404)
    body = await read_json(request, services.settings.max_request_bytes)
    if hub.agents[agent].protocol == "http":
        return await plain.answer(request, pipeline, agent, body)
    if not isinstance(body, dict):
        reason = "JSON-RPC batches are not supported" if isinstance(body, list) else "not a JSON-RPC request"
        return rendering.response("a2a", ProtocolRefused(PARSE_ERROR, reason, "parse_error"), request_id, status=400)
    return await rpc.answer(request, pipeline, agent, body)


def _gateway_url(request: Request, services: Services, agent: str) -> str:
    base = services.settings.approvals.public_url or str(request.base_url)
    return f"{base.rstrip('/')}/a2a/{agent}"


async def card(request: Request) -> Response:
    """The upstream agent's card, as the gateway serves it (every URL in it the gateway's): a read of its own
    (`kind: read`, `agent.card`), decided and audited."""
    agent = request.path_params["agent"]
    services = pipeline_of(request).services
    payload = ReadPayload(operation="agent.card", name=agent, params={"url": _gateway_url(request, services, agent)})
    return await serve(request, "a2a", payload, lambda body: body)


async def read_card(call: Call, services: Services) -> dict[str, Any]:
    hub = _hub(services, call.target, card=True)
    upstream = await hub.card(call.target)
    url = call.payload.params["url"] if isinstance(call.payload, ReadPayload) else ""
    return rewrite(upstream, hub.agents[call.target].url, url)


READS = {"agent.card": read_card}


routes = [
    Route("/a2a/{agent}", post, methods=["POST"]),
    Route("/a2a/{agent}/.well-known/agent-card.json", card, methods=["GET"]),
    Route("/a2a/{agent}/.well-known/agent.json", card, methods=["GET"]),
]
