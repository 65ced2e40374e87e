"""Other agents at `/a2a/{agent}`, each configured under `agents:`.

    POST /a2a/{agent}                              A2A: one JSON-RPC request (`rpc`); http: a JSON body (`plain`)
    GET  /a2a/{agent}/.well-known/agent-card.json  the agent's card, its URL rewritten to the gateway (`card`)
    GET  /a2a/{agent}/.well-known/agent.json       the same (the card's 0.3 path)

Callers authenticate with their gateway key (`Authorization: Bearer`), for the card too; the upstream's
credentials and address stay in the gateway.
"""

from __future__ import annotations

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.a2a import plain, rpc
from gateway.a2a.card import rewrite
from gateway.a2a.upstream import AgentHub
from gateway.errors import GatewayError, RouteNotFound, Unauthenticated
from gateway.mcp.jsonrpc import INVALID_REQUEST, PARSE_ERROR, error
from gateway.model import new_id
from gateway.pipeline import Pipeline
from gateway.services import Services
from gateway.stages.authenticate import identify
from gateway.surfaces.common import bearer_key, error_response, origin, read_json
from gateway.surfaces.openai import WIRE


def _hub(services: Services, agent: str, card: bool = False) -> AgentHub:
    if services.a2a is None or agent not in services.a2a.agents:
        raise RouteNotFound(f"no agent '{agent}' on this gateway")
    if card and services.a2a.agents[agent].protocol != "a2a":
        raise RouteNotFound(f"agent '{agent}' is a plain HTTP agent: it has no agent card")
    return services.a2a


async def post(request: Request) -> Response:
    pipeline: Pipeline = request.app.state.pipeline
    services, agent = pipeline.services, request.path_params["agent"]
    try:
        hub = _hub(services, agent)
    except RouteNotFound as exc:
        return JSONResponse(error(None, INVALID_REQUEST, exc.message, {"code": exc.code}), status_code=404)
    body = await read_json(request, services.settings.max_request_bytes)
    if hub.agents[agent].protocol == "http":
        return await plain.answer(request, pipeline, agent, body)
    if not isinstance(body, dict):
        reason = "JSON-RPC batches are not supported" if isinstance(body, list) else "not a JSON-RPC request"
        return JSONResponse(error(None, PARSE_ERROR, reason), status_code=400)
    return await rpc.answer(request, pipeline, agent, body)


def _gateway_url(request: Request, services: Services, agent: str) -> str:
    base = services.settings.approvals.public_url or str(request.base_url)
    return f"{base.rstrip('/')}/a2a/{agent}"


async def card(request: Request) -> Response:
    """The upstream agent's card, as the gateway serves it: every URL in it is the gateway's."""
    services: Services = request.app.state.services
    agent, request_id = request.path_params["agent"], request.headers.get("x-request-id") or new_id()
    try:
        key = bearer_key(request)
        await identify(SecretStr(key) if key else None, origin(request, "a2a"), services.keys)
        hub = _hub(services, agent, card=True)
        upstream = await hub.card(agent)
    except GatewayError as exc:
        response = error_response(WIRE, exc, request_id)
        if isinstance(exc, Unauthenticated):
            response.headers["www-authenticate"] = "Bearer"
        return response
    return JSONResponse(rewrite(upstream, hub.agents[agent].url, _gateway_url(request, services, agent)))


routes = [
    Route("/a2a/{agent}", post, methods=["POST"]),
    Route("/a2a/{agent}/.well-known/agent-card.json", card, methods=["GET"]),
    Route("/a2a/{agent}/.well-known/agent.json", card, methods=["GET"]),
]
