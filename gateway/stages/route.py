"""Stage 6: the call's target (or the policy's route override) -> the route with its targets, per kind.

Model and embeddings calls are routed by model alias through `routes:`; tool and agent calls to the MCP
server or agent they were addressed to. Each kind has its own router; a
kind without one has no targets on this gateway and is refused with a clear error. A Responses call is also
checked against where it goes (`check_responses`): hosted tools only as the decision allows them, and only
to providers that speak Responses natively.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from connectors.anthropic_wire import FOREIGN
from connectors.responses_wire import untranslatable
from gateway.audit.journal import Journal
from gateway.enforcement import Plan, unallowed_hosted
from gateway.errors import InvalidRequest, PolicyDenied, RouteNotFound
from gateway.flight import Flight, Route
from gateway.model import Call, Kind, ModelPayload
from gateway.policy.input import hosted_tools
from gateway.services import Services, UpstreamKind
from gateway.settings import Settings


def model_route(call: Call, plan: Plan | None, settings: Settings) -> Route:
    alias = (plan.route if plan else None) or call.target
    try:
        return Route(alias=alias, config=settings.routes[alias])
    except KeyError:
        known = ", ".join(sorted(settings.routes)) or "none"
        raise RouteNotFound(f"the model '{alias}' has no route on this gateway (routes: {known})") from None


def find_route(call: Call, plan: Plan | None, settings: Settings, kinds: Mapping[Kind, UpstreamKind]) -> Route:
    kind = kinds.get(call.kind)
    if kind is None:
        raise RouteNotFound(f"this gateway routes no {call.kind} calls (no '{call.target}' is configured)")
    return kind.route(call, plan, settings)


def check_responses(call: Call, plan: Plan | None, found: Route, settings: Settings) -> None:
    """A Responses call goes only where it can be carried out as governed: its hosted tools must be named by the
    decision (else 403), and a call a translated route cannot carry (hosted tools, items the neutral format does
    not model) needs every target of its route to speak Responses natively (else 400)."""
    payload = call.payload
    if not isinstance(payload, ModelPayload) or payload.api != "responses":
        return
    refused = unallowed_hosted(hosted_tools(payload), plan)
    if refused:  # the decide stage denies these already; a pipeline without it must not let them through
        decision_id = plan.decision_id if plan else ""
        raise PolicyDenied([f"hosted tool '{name}' is not allowed" for name in refused], decision_id)
    problem = untranslatable(payload.request)
    translated = [t.provider for t in found.config.targets() if settings.providers[t.provider].responses != "native"]
    if problem is not None and translated:
        message, param = problem
        raise InvalidRequest(f"{message} (route '{found.alias}', provider '{translated[0]}')", param)


def check_tools(call: Call, found: Route, settings: Settings) -> None:
    """A tool only the OpenAI formats can take (a custom free-form tool) goes to no Anthropic provider, and an
    Anthropic block the neutral format does not model (a document, a block of a new beta) to no other provider:
    400, naming it, rather than a call the model would see without it."""
    payload = call.payload
    if not isinstance(payload, ModelPayload):
        return
    kinds = {t.provider: settings.providers[t.provider].kind for t in found.config.targets()}
    others = [name for name, kind in kinds.items() if kind != "anthropic"]
    foreign = (payload.request.passthrough.get(FOREIGN) or {}).get("blocks") or []
    if foreign and others:
        message, param = foreign[0]
        raise InvalidRequest(f"{param}: {message} (route '{found.alias}', provider '{others[0]}')", param)
    anthropic = [name for name, kind in kinds.items() if kind == "anthropic"]
    for i, tool in enumerate(payload.request.tools):
        if tool.native_only and anthropic:
            raise InvalidRequest(
                f"tool '{tool.name}' is a custom (free-form) tool, which only OpenAI-format providers take "
                f"(route '{found.alias}', provider '{anthropic[0]}')",
                f"tools[{i}]",
            )


async def route(flight: Flight, services: Services, journal: Journal) -> Flight:
    call = flight.need_call()
    found = find_route(call, flight.plan, services.settings, services.kinds)
    check_responses(call, flight.plan, found, services.settings)
    check_tools(call, found, services.settings)
    return replace(flight, route=found)
