"""Stage 6: the model alias (or the policy's route override) -> the route with its targets."""

from __future__ import annotations

from gateway.errors import RouteNotFound
from gateway.model import Call, Decision
from gateway.settings import RouteConfig


def route(call: Call, decision: Decision, routes: dict[str, RouteConfig]) -> tuple[str, RouteConfig]:
    alias = decision.route or call.target
    try:
        return alias, routes[alias]
    except KeyError:
        known = ", ".join(sorted(routes)) or "none"
        raise RouteNotFound(f"the model '{alias}' has no route on this gateway (routes: {known})") from None
