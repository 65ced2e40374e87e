"""The pipeline's hooks for agent calls: routing a `kind: agent` call to its agent, and forwarding it there.

`route.py` routes kind `agent` with `agent_route` and `forward.py` sends it with `forward_agent`. The call's
text is the JSON the caller sent (an A2A request's `params`, or an http agent's body), redacted by the
request stages; the answer comes back as a `ChatResponse` whose text is the answer's JSON, so the response
stages see what the agent said; the surface parses it back. A streaming method's answer is relayed live: a
stream whose text deltas are its events, one JSON line each (`{"result": ...}` or `{"error": ...}`), each
passed on as it arrives (a JSON line ends in `}`, which the PII look-behind never holds back).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import replace
from typing import Any

from connectors.base import ChatResponse, StreamEnd, StreamEvent, StreamStart, TextDelta
from gateway.a2a.events import final
from gateway.a2a.hub import AgentHub
from gateway.a2a.live import decide_events
from gateway.audit.journal import Journal
from gateway.enforcement import Plan
from gateway.errors import GatewayError, RouteNotFound, UnreadableAfterRedaction, UpstreamFailed
from gateway.flight import Flight, Route
from gateway.model import AGENT_STREAMS, AgentPayload, Attempt, Call
from gateway.services import Services, UpstreamKind
from gateway.settings import RouteConfig, RouteTarget, Settings

HTTP_OPERATION = "http"  # the operation of a call to a plain HTTP agent


def agent_route(call: Call, plan: Plan | None, settings: Settings) -> Route:
    """An agent call goes to the agent it was addressed to (`/a2a/{agent}`); the policy cannot re-route it."""
    payload = call.payload
    if not isinstance(payload, AgentPayload):
        raise GatewayError("internal check failed: isinstance(payload, AgentPayload)")
    if payload.agent not in settings.agents:
        raise RouteNotFound(f"no agent '{payload.agent}' on this gateway")
    return Route(alias=payload.agent, config=RouteConfig(provider=payload.agent, model=payload.operation))


def _sent(payload: AgentPayload) -> Any:
    try:
        return json.loads(payload.text or "{}")
    except ValueError:  # a redaction that broke the JSON text: withhold rather than guess
        raise UnreadableAfterRedaction("the message") from None


async def _ask(hub: AgentHub, payload: AgentPayload) -> Any:
    sent = _sent(payload)
    if payload.operation == HTTP_OPERATION:
        return await hub.post(payload.agent, sent)
    return await hub.send(payload.agent, payload.operation, sent)


def line(event: dict[str, Any]) -> str:
    """One upstream event as the text the response stages see: one JSON line."""
    return json.dumps(event, ensure_ascii=False) + "\n"


async def _relay(
    call_id: str, agent: str, first: dict[str, Any], rest: AsyncGenerator[dict[str, Any], None]
) -> AsyncIterator[StreamEvent]:
    yield StreamStart(id=call_id, model=agent)
    try:
        event: dict[str, Any] | None = first
        while event is not None:
            yield TextDelta(text=line(event))
            # after its last event the stream is over (A2A): its end is not waited for, so the whole answer is
            # decided (and audited) at once, while the caller still reads the last event
            event = None if final(event) else await anext(rest, None)
    finally:
        await rest.aclose()  # the end, the caller left, or the stream failed: the upstream connection is closed
    yield StreamEnd()


async def _open(hub: AgentHub, payload: AgentPayload, call_id: str) -> AsyncIterator[StreamEvent]:
    """Open the agent's stream and wait for its first event (a refusal or an unreachable agent is then an
    error before the stream starts); the rest is relayed as it comes."""
    events = hub.stream(payload.agent, payload.operation, _sent(payload))
    try:
        first = await anext(events)
    except StopAsyncIteration:
        raise UpstreamFailed(f"agent '{payload.agent}' sent an empty stream") from None
    except BaseException:
        await events.aclose()
        raise
    return _relay(call_id, payload.agent, first, events)


async def forward_agent(
    flight: Flight, services: Services, journal: Journal
) -> tuple[Flight, ChatResponse | AsyncIterator[StreamEvent]]:
    """Send one agent call upstream; its answer (JSON text) as the answer the response stages see."""
    payload = flight.need_call().payload
    if not isinstance(payload, AgentPayload):
        raise GatewayError("internal check failed: isinstance(payload, AgentPayload)")
    hub = services.a2a
    if hub is None:
        raise RouteNotFound("this gateway has no agents")
    try:
        answer = await (
            _open(hub, payload, flight.origin.call_id) if payload.operation in AGENT_STREAMS else _ask(hub, payload)
        )
    except UpstreamFailed as exc:
        journal.attempt(Attempt(provider=payload.agent, model=payload.operation, status=None, error=exc.message))
        journal.upstream_failed(None)
        raise
    except GatewayError:
        raise
    journal.attempt(Attempt(provider=payload.agent, model=payload.operation, status=200))
    journal.served(payload.agent, payload.operation, 200)
    served = RouteTarget(provider=payload.agent, model=payload.operation)
    if isinstance(answer, AsyncIterator):
        return replace(flight, served=served), answer
    text = json.dumps(answer, ensure_ascii=False)
    return replace(flight, served=served), ChatResponse(id=flight.origin.call_id, model=payload.agent, content=text)


# other agents: one agent per call; a stream decided event by event as it is relayed
AGENTS = UpstreamKind(route=agent_route, forward=forward_agent, respond=decide_events)
