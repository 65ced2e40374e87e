"""What an agent may use, as the policy sees it: the one way listings are filtered, for models, tools,
resources and prompts alike.

A listing is a call of its own (`kind: list`, decided and audited once, `gateway.stages.served`); each item
in it is then asked about with a request-phase input for a call of that item (a model alias: a chat with no
messages; a tool: a `tools/call` with no arguments, with its annotations; a resource or prompt: a read or a
get of it), and listed only if the policy allows that call. These per-item probes are not audited each (the
listing is). The listing follows the policy's `allow`, not what this gateway can enforce: an item the policy
would hold for approval, or allow with redactions, is listed, since the agent may call it and wait.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from connectors.base import ChatRequest
from gateway.errors import GatewayError, RouteNotFound
from gateway.model import Call, ListPayload, ModelPayload, Principal
from gateway.policy.input import build_input
from gateway.services import Services
from gateway.stages.decide import evaluate

T = TypeVar("T")


async def visible(services: Services, candidates: Iterable[tuple[T, dict[str, Any]]]) -> list[T]:
    """The items whose probe (a request-phase input for a call of the item) the policy allows, in order."""
    out = []
    for item, probe in candidates:
        decision = await evaluate(services.policy, probe, services.settings.policy, services.metrics)
        if decision.allow:
            out.append(item)
    return out


def model_probe(alias: str, principal: Principal, surface: str, request_id: str, routes: list[str]) -> dict[str, Any]:
    payload = ModelPayload(request=ChatRequest(model=alias, messages=[]))
    call = Call(surface=surface, principal=principal, request_id=request_id, payload=payload)
    return build_input(call, "request", routes, [])


async def models(call: Call, services: Services) -> dict[str, Any]:
    """`models`: the route aliases this agent may call (`params.id`: that one alias, or 404)."""
    payload = call.payload
    if not isinstance(payload, ListPayload):
        raise GatewayError("internal check failed: a listing")
    routes = list(services.settings.routes)
    asked = payload.params.get("id")
    if asked is not None and asked not in routes:
        raise RouteNotFound(f"the model '{asked}' has no route on this gateway that this agent may use")
    candidates = [asked] if asked is not None else routes
    probes = [
        (alias, model_probe(alias, call.principal, call.surface, call.request_id, routes)) for alias in candidates
    ]
    allowed = await visible(services, probes)
    if asked is not None and not allowed:
        raise RouteNotFound(f"the model '{asked}' has no route on this gateway that this agent may use")
    return {"models": allowed}
