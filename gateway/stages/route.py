"""Stage 6: the call's target (or the policy's route override) -> the route with its targets, per kind.

Model and embeddings calls are routed by model alias through `routes:`; tool and agent calls to the MCP
server or agent they were addressed to. Each kind has its own router; a
kind without one has no targets on this gateway and is refused with a clear error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from gateway.a2a.forward import agent_route
from gateway.audit.journal import Journal
from gateway.enforcement import Plan
from gateway.errors import RouteNotFound
from gateway.flight import Flight, Route
from gateway.mcp.forward import tool_route
from gateway.model import Call, Kind
from gateway.services import Services
from gateway.settings import Settings

Router = Callable[[Call, Plan | None, Settings], Route]


def model_route(call: Call, plan: Plan | None, settings: Settings) -> Route:
    alias = (plan.route if plan else None) or call.target
    try:
        return Route(alias=alias, config=settings.routes[alias])
    except KeyError:
        known = ", ".join(sorted(settings.routes)) or "none"
        raise RouteNotFound(f"the model '{alias}' has no route on this gateway (routes: {known})") from None


ROUTERS: dict[Kind, Router] = {
    "model": model_route,
    "embeddings": model_route,
    "tool": tool_route,
    "agent": agent_route,
}


def find_route(call: Call, plan: Plan | None, settings: Settings) -> Route:
    router = ROUTERS.get(call.kind)
    if router is None:
        raise RouteNotFound(f"this gateway routes no {call.kind} calls (no '{call.target}' is configured)")
    return router(call, plan, settings)


async def route(flight: Flight, services: Services, journal: Journal) -> Flight:
    return replace(flight, route=find_route(flight.need_call(), flight.plan, services.settings))
