"""Stage 3 (and 8): ask the policy, make its decision a plan, record it; a deny ends the call.

Every engine failure becomes a deny (fail closed). The only way an engine failure allows a call is
`policy.fail_open: true` in the config, and then the decision is marked `fail_open` in the audit log.
What the policy asks that this gateway cannot carry out is denied by `enforcement.plan`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from connectors.base import Carried, StreamEnd, StreamStart, TextDelta, ToolCall
from gateway.audit.journal import Journal, answer
from gateway.enforcement import Capabilities, Plan, plan, settle_hosted
from gateway.errors import PolicyDenied, PolicyEngineError, PolicyUnavailable
from gateway.flight import Flight
from gateway.metrics import Metrics
from gateway.model import Call, Decision, ModelPayload, Phase
from gateway.pii.findings import Findings
from gateway.policy.engine import PolicyEngine
from gateway.policy.input import build_input, hosted_tools, request_tool_calls
from gateway.reply import Part
from gateway.services import Services
from gateway.settings import PolicyConfig
from gateway.stages.hold import hold_response
from gateway.stages.redact import redact_more, redact_more_carried
from gateway.stages.screen import screen_answer

NOTHING_UNTRUSTED = {"score": 0.0, "where": [], "signals": []}  # input.injection of a call that read nothing untrusted


def _late(phase: Phase, config: PolicyConfig, version: str) -> Decision:
    return Decision.failed(phase, "policy_unavailable", f"no decision within {config.timeout_ms:g} ms", version)


async def _ask(engine: PolicyEngine, input_doc: dict[str, Any], config: PolicyConfig, phase: Phase) -> Decision:
    version = engine.version
    budget = config.timeout_ms / 1000
    started = time.perf_counter()
    try:
        async with asyncio.timeout(budget):
            raw = await engine.evaluate(input_doc)
    except TimeoutError:
        return _late(phase, config, version)
    except PolicyUnavailable as exc:
        return Decision.failed(phase, "policy_unavailable", exc.message, version)
    except PolicyEngineError as exc:
        return Decision.failed(phase, "policy_error", exc.message, version)
    if time.perf_counter() - started > budget:  # an evaluation on the loop's thread cannot be interrupted
        return _late(phase, config, version)
    return Decision.from_document(raw, phase=phase, policy_version=version)


async def evaluate(engine: PolicyEngine, input_doc: dict[str, Any], config: PolicyConfig, metrics: Metrics) -> Decision:
    """The policy's decision on one input, failing closed (the decision as the policy gave it, not yet a plan)."""
    phase: Phase = input_doc["call"]["phase"]
    started = time.perf_counter()
    decision = await _ask(engine, input_doc, config, phase)
    if decision.error and config.fail_open:
        decision = decision.model_copy(update={"allow": True, "fail_open": True})
    decision.latency_ms = round((time.perf_counter() - started) * 1000, 3)
    metrics.decision(phase, decision.allow, decision.error, decision.latency_ms / 1000)
    return decision


async def _decide(flight: Flight, services: Services, journal: Journal, phase: Phase, calls: list[ToolCall]) -> Plan:
    call = flight.need_call()
    upstream = None
    if phase == "response" and flight.served is not None:
        upstream = {"provider": flight.served.provider, "model": flight.served.model}
    findings = flight.findings if phase == "request" else Findings(tuple(journal.output_findings))
    internal = call.kind in ("model", "embeddings") and services.settings.internal_route(call.target)
    routes = list(services.settings.routes)
    redactable = services.capabilities.redactable
    usage = flight.reservation.document() if flight.reservation is not None else None
    injection = (journal.injection or dict(NOTHING_UNTRUSTED)) if services.injection is not None else None
    input_doc = build_input(
        call, phase, routes, calls, upstream, findings, internal, flight.session, redactable, usage, injection
    )
    decision = await evaluate(services.policy, input_doc, services.settings.policy, services.metrics)
    enforced = plan(decision, _capabilities(flight, services, phase)).model_copy(update={"input": input_doc})
    if phase == "request" and isinstance(call.payload, ModelPayload):
        enforced = settle_hosted(enforced, hosted_tools(call.payload))
    if phase == "request" and call.stream and enforced.action != "deny":
        ahead = await _redacted_ahead(services, input_doc)
        if ahead - set(enforced.redact_output):
            enforced = enforced.model_copy(update={"redact_output": sorted(ahead | set(enforced.redact_output))})
    journal.decided(call.principal, call, decision, enforced, calls, findings)
    if services.shadow is not None:  # after the decision: the call does not wait for the candidate
        services.shadow.compare_soon(input_doc, answer(decision), journal.events[-1])
    if enforced.action == "deny" and decision.error == "policy_unavailable":  # no verdict: try again shortly
        raise PolicyUnavailable("the policy engine could not decide in time", enforced.reasons, decision.decision_id)
    if enforced.action == "deny":
        raise PolicyDenied(enforced.reasons, decision.decision_id)
    return enforced


async def _redacted_ahead(services: Services, request_input: dict[str, Any]) -> set[str]:
    """What the response decision of a streamed call would redact, asked before the stream starts: its text
    leaves as it comes, so the look-behind must know the types to take out before the decision at its end can
    ask for them. The policy is asked its response phase on this call as if every redactable type had come
    back (a policy that redacts whatever it finds, `redact := [p.type | some p in input.pii]`, gets its
    stream redacted instead of refused). Not a decision: nothing is enforced but more redaction; a failure or
    a deny adds nothing (the decision at the end still decides)."""
    redactable = sorted(services.capabilities.redactable)
    if not redactable:
        return set()
    pii = [{"type": kind, "count": 1, "max_score": 1.0, "where": ["output"]} for kind in redactable]
    probe = {**request_input, "call": {**request_input["call"], "phase": "response", "tool_calls": []}, "pii": pii}
    decision = await _ask(services.policy, probe, services.settings.policy, "response")
    if decision.error or not decision.allow:
        return set()
    return set(decision.redact) & set(redactable)


def _capabilities(flight: Flight, services: Services, phase: Phase) -> Capabilities:
    """A streamed answer's text has already gone back, scrubbed of the types the request decision named
    (`redact`, `redact_output`): a response decision can ask for those, not for more. A whole answer has not:
    any type the gateway can redact."""
    if phase == "request" or flight.whole:
        return services.capabilities
    plan = flight.plan
    done = frozenset([*plan.redact, *plan.redact_output]) if plan else frozenset()
    return services.capabilities.model_copy(
        update={
            "redactable": services.capabilities.redactable & done,
            "unredactable_reason": "the response went back scrubbed of the request decision's types only",
        }
    )


async def decide(flight: Flight, services: Services, journal: Journal) -> Flight:
    """Request phase: before anything leaves the gateway. Hosted tools the decision does not allow are taken
    out of the call here (unless it asked to deny it instead)."""
    call = flight.need_call()
    enforced = await _decide(flight, services, journal, "request", request_tool_calls(call))
    return replace(flight, plan=enforced, call=without_hosted(call, enforced.removed_tools))


def without_hosted(call: Call, names: list[str]) -> Call:
    """The call without the hosted tools named (the model never sees them)."""
    payload = call.payload
    if not names or not isinstance(payload, ModelPayload):
        return call
    tools = [t for t in payload.request.tools if not (t.hosted and t.name in names)]
    request = payload.request.model_copy(update={"tools": tools})
    return call.model_copy(update={"payload": payload.model_copy(update={"request": request})})


async def decide_output(flight: Flight, services: Services, journal: Journal) -> Plan:
    """A response-phase decision on what came back so far, without tool calls (an agent's stream, event by event:
    `gateway.a2a.live`). A deny raises, as in `decide`."""
    return await _decide(flight, services, journal, "response", [])


async def decide_response(
    flight: Flight, services: Services, journal: Journal, parts: AsyncIterator[Part]
) -> AsyncIterator[Part]:
    """Response phase: text passes as it comes (a whole answer's waits, as nothing of it has left yet); the tool
    calls the model asks for wait for the decision (and, when the policy holds them, for a reviewer). A whole
    answer's text is then redacted of the types the response decision asks for that were not taken out already."""
    held: list[ToolCall] = []
    start: StreamStart | None = None
    text: list[str] = []
    kept: list[TextDelta] = []
    carried: list[Carried] = []
    async for part in parts:
        if isinstance(part, ToolCall):
            held.append(part)
            continue
        if isinstance(part, Carried) and flight.whole:
            carried.append(part)
            continue
        if isinstance(part, StreamStart):
            start = start or part
        elif isinstance(part, TextDelta):
            text.append(part.text)
            if flight.whole:
                kept.append(part)
                continue
        elif isinstance(part, StreamEnd):
            journal.usage(part.usage)
            screen_answer(flight, services, journal, "".join(text))
            enforced = await _decide(flight, services, journal, "response", held)
            if enforced.action == "hold":
                reply = _reply(start, text, held, part)
                async for keepalive in hold_response(flight, services, journal, enforced, held, reply):
                    yield keepalive
            for event in redact_more_carried(flight, services, journal, carried, enforced.redact):
                yield event
            for delta in await redact_more(flight, services, journal, kept, enforced.redact):
                yield delta
            for call in held:
                yield call
        yield part


def _reply(start: StreamStart | None, text: list[str], calls: list[ToolCall], end: StreamEnd) -> dict[str, Any]:
    """The answer as the agent would get it, kept with a held response for a respond-async replay."""
    return {
        "id": start.id if start else "",
        "model": start.model if start else "",
        "content": "".join(text) or None,
        "tool_calls": [c.model_dump(mode="json") for c in calls],
        "stop_reason": end.stop_reason,
        "usage": end.usage.model_dump(mode="json") if end.usage else None,
    }
