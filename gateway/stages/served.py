"""Calls the gateway answers itself, through the same pipeline as any other: reads of what it keeps or serves
(`kind: read`: a kept Response, an agent's card) and listings of what an agent may use (`kind: list`: the
routes, an MCP server's tools, resources and prompts).

So none of them is a side door: each is authenticated, decided (the policy sees `kind` and `operation`),
forwarded here instead of to a provider (a handler registered per operation by the surface that serves it),
inspected and redacted on its way out like any answer, and audited. A handler returns the body as JSON; the
surface renders it in its protocol.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from connectors.base import ChatResponse
from gateway.audit.journal import Journal
from gateway.enforcement import Plan
from gateway.errors import GatewayError, InvalidRequest
from gateway.flight import Flight, Route
from gateway.model import Attempt, Call, ListPayload, ReadPayload
from gateway.services import Services, UpstreamKind
from gateway.settings import RouteConfig, RouteTarget, Settings

GATEWAY = "gateway"  # the provider of what the gateway answers itself, in the audit record
Handler = Callable[[Call, Services], Awaitable[Any]]  # a read or listing call -> its body (JSON)


def _route(call: Call, plan: Plan | None, settings: Settings) -> Route:
    return Route(alias=call.target, config=RouteConfig(provider=GATEWAY, model=call.operation))


def served(handlers: Mapping[str, Handler]) -> UpstreamKind:
    """The kind whose calls `handlers` answer, by operation."""

    async def forward(flight: Flight, services: Services, journal: Journal) -> tuple[Flight, ChatResponse]:
        call = flight.need_call()
        if not isinstance(call.payload, ReadPayload | ListPayload):
            raise GatewayError("internal check failed: a read or listing payload")
        handler = handlers.get(call.operation)
        if handler is None:
            raise InvalidRequest(f"this gateway does not serve '{call.operation}'")
        body = await handler(call, services)
        journal.attempt(Attempt(provider=GATEWAY, model=call.operation, status=200))
        journal.served(GATEWAY, call.operation, 200)
        answer = ChatResponse(id=flight.origin.call_id, model=GATEWAY, content=json.dumps(body, ensure_ascii=False))
        return replace(flight, served=RouteTarget(provider=GATEWAY, model=call.operation)), answer

    return UpstreamKind(route=_route, forward=forward)
