"""Stage 5 (and 8): a call the policy holds waits in the approval queue until a reviewer decides.

Request phase (`hold`, after redaction so the held action is exactly what would leave): the outgoing call is
stored, encrypted, and the agent either waits (the default; a stream gets keep-alives meanwhile) or, with
`Prefer: respond-async`, gets 202 with the approval and comes back with `X-Gateway-Approval: <id>`.
Response phase (`hold_response`, from the response decision): the tool calls the model asks for are held
the same way; with respond-async (whole answers only) the answer is stored and replayed, never re-asked.

An approval is a single-use receipt bound to the agent, the canonical hash of the action and the policy
version it was held under (`ApprovalQueue.redeem`). An identical retry of a held call (an SDK's automatic
retry, or a restart in between) waits on the same approval instead of queueing a second one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from connectors.base import ToolCall
from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.records import Approval, Held
from gateway.audit.journal import Journal
from gateway.canonical import digest
from gateway.enforcement import Plan
from gateway.errors import ApprovalPending, GatewayError
from gateway.flight import Flight, Gate
from gateway.reply import KeepAlive
from gateway.services import Services


def request_action(flight: Flight) -> dict[str, Any]:
    """The call as it would leave the gateway (after redaction): what a reviewer approves."""
    call = flight.need_call()
    return {"kind": call.kind, "target": call.target, **call.payload.model_dump(mode="json", exclude={"kind"})}


def tool_action(calls: list[ToolCall]) -> dict[str, Any]:
    """The tool calls the model asks the agent to make, as the agent would receive them."""
    return {"tool_calls": [{"name": c.name, "arguments": _arguments(c.arguments)} for c in calls]}


def _arguments(raw: str) -> Any:
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return raw  # shown, and hashed, exactly as the model wrote it


def _queue(services: Services) -> ApprovalQueue:
    if services.approvals is None:  # enforcement.plan denies holds when the queue is off
        raise GatewayError("a call was held but this gateway has no approval queue")
    return services.approvals


def _held(flight: Flight, services: Services, plan: Plan, action: dict[str, Any], **extra: Any) -> Held:
    call = flight.need_call()
    if plan.hold is None:
        raise GatewayError("internal check failed: plan.hold is not None")
    principal = call.principal
    phase = extra.pop("phase", "request")
    calls = extra.pop("calls", [])
    return Held(
        phase=phase,
        kind=call.kind,
        surface=call.surface,
        agent=principal.agent,
        team=principal.team,
        key_id=principal.key_id,
        end_user=principal.end_user,
        target=call.target,
        approvers=plan.hold.approvers,
        reason=plan.hold.reason,
        reasons=plan.reasons,
        tool_calls=[c.name for c in calls],
        action_hash=digest(action),
        request_hash=digest(request_action(flight)),
        policy_version=plan.policy_version,
        decision_id=plan.decision_id,
        call_id=flight.origin.call_id,
        request_id=flight.origin.request_id,
        payload={"action": action, "input": plan.input, **extra},
    )


async def flagged(flight: Flight, services: Services, journal: Journal) -> list[dict[str, Any]]:
    """The untrusted passages a reviewer should see with this hold: this call's flagged ones, else those its
    session kept (a tool call made after an earlier call brought injected content back); [] when none."""
    if journal.flagged:
        return journal.flagged
    store, key, session = services.sessions, flight.origin.session, flight.session or {}
    if store is None or key is None or services.approvals is None or not session.get("injection", {}).get("flagged"):
        return []
    try:
        sealed = await store.flagged(flight.need_call().principal.agent, key)
        kept = services.approvals.cipher.open(sealed) if sealed is not None else {}
    except GatewayError:  # the store is down, or the key changed: the hold goes on without them
        return []
    return list(kept.get("flagged") or [])


async def hold(flight: Flight, services: Services, journal: Journal) -> Flight:
    """Request phase. A call not held passes; one held goes ahead only with a redeemed approval."""
    plan, origin = flight.plan, flight.origin
    if plan is None or plan.action != "hold":
        if origin.approval_id and services.approvals is not None:
            return await _replay(flight, services.approvals)
        return flight
    queue = _queue(services)
    agent = flight.need_call().principal.agent
    action = request_action(flight)
    action_hash = digest(action)
    approval = await _presented_or_reusable(queue, flight, agent, action_hash, plan.policy_version, "request")
    if approval is not None and approval.status == "approved":  # an identical call's, approved meanwhile
        approval = await queue.redeem(approval.approval_id, agent, action_hash, plan.policy_version)
    if approval is not None and approval.status == "used":  # redeemed for this call
        journal.approval_id = approval.approval_id
        return replace(flight, approval=approval)
    if approval is None:
        approval = await queue.hold(
            _held(flight, services, plan, action, flagged=await flagged(flight, services, journal))
        )
    journal.approval_id = approval.approval_id
    if origin.respond_async:
        raise ApprovalPending(approval.summary(_base(services)), plan.decision_id)

    async def wait() -> Approval:
        return await _decided(queue, approval, agent, action_hash, plan.policy_version)

    if flight.need_call().stream:
        return replace(flight, gate=Gate(wait, services.settings.approvals.keepalive_s))
    return replace(flight, approval=await wait())


async def _presented_or_reusable(
    queue: ApprovalQueue, flight: Flight, agent: str, action_hash: str, version: str, phase: str
) -> Approval | None:
    """The approval the agent presented (redeemed here when approved; any problem with it refuses the call,
    audited), else one an identical earlier call is waiting on (pending or approved)."""
    presented = flight.origin.approval_id
    if presented:
        approval = await queue.get(presented)
        fits = approval is not None and (approval.agent, approval.action_hash, approval.phase) == (
            agent,
            action_hash,
            phase,
        )
        if approval is None or not fits or approval.status != "pending":
            return await queue.redeem(presented, agent, action_hash, version)  # raises unless it fits
        return approval
    return await queue.find_reusable(agent, action_hash, version, phase)


async def _decided(queue: ApprovalQueue, approval: Approval, agent: str, action_hash: str, version: str) -> Approval:
    """Wait for the reviewer; approved: redeem (once), otherwise the error the agent gets."""
    decided = await queue.wait(approval)
    if decided.status != "approved":
        raise queue.outcome_error(decided)
    return await queue.redeem(decided.approval_id, agent, action_hash, version)


async def _replay(flight: Flight, queue: ApprovalQueue) -> Flight:
    """A retry presenting a response-phase approval: the held answer is delivered instead of asking the
    model again (the response decision redeems the approval when it sees the same tool calls)."""
    approval_id = flight.origin.approval_id
    if approval_id is None:
        raise GatewayError("internal check failed: approval_id is not None")
    approval = await queue.get(approval_id)
    agent = flight.need_call().principal.agent
    if approval is None or approval.phase != "response" or approval.agent != agent:
        await queue.redeem(approval_id, agent, "", "")  # refuses (and audits) an approval that does not fit
        return flight
    if approval.request_hash != digest(request_action(flight)):
        await queue.redeem(approval_id, agent, "", approval.policy_version)  # "the call differs"
    approval = await queue.settle(approval)
    if approval.status == "pending":
        raise ApprovalPending(approval.summary(), approval.decision_id)
    if approval.status == "used":  # refused as a second use, and audited
        await queue.redeem(approval_id, agent, approval.action_hash, approval.policy_version)
    if approval.status != "approved":
        raise queue.outcome_error(approval)
    reply = (await queue.payload(approval_id)).get("reply")
    return replace(flight, replay=reply) if reply else flight


async def hold_response(
    flight: Flight, services: Services, journal: Journal, plan: Plan, calls: list[ToolCall], reply: dict[str, Any]
) -> AsyncIterator[KeepAlive]:
    """Response phase: hold the tool calls; yields keep-alives while waiting; returns once approved (and
    redeemed), raises otherwise. `reply` is the answer so far, stored for a respond-async replay."""
    queue = _queue(services)
    agent = flight.need_call().principal.agent
    action = tool_action(calls)
    action_hash = digest(action)
    if flight.origin.approval_id and flight.replay is not None:  # the agent came back with its receipt
        redeemed = await queue.redeem(flight.origin.approval_id, agent, action_hash, plan.policy_version)
        journal.approval_id = redeemed.approval_id
        return
    approval = await queue.find_reusable(agent, action_hash, plan.policy_version, "response")
    if approval is not None and approval.status == "approved":
        redeemed = await queue.redeem(approval.approval_id, agent, action_hash, plan.policy_version)
        journal.approval_id = redeemed.approval_id
        return
    if approval is None:
        passages = await flagged(flight, services, journal)
        held = _held(flight, services, plan, action, phase="response", calls=calls, reply=reply, flagged=passages)
        approval = await queue.hold(held)
    journal.approval_id = approval.approval_id
    if flight.origin.respond_async and not flight.need_call().stream:
        raise ApprovalPending(approval.summary(_base(services)), plan.decision_id)
    waiting = asyncio.ensure_future(_decided(queue, approval, agent, action_hash, plan.policy_version))
    try:
        while not waiting.done():
            done, _ = await asyncio.wait({waiting}, timeout=services.settings.approvals.keepalive_s)
            if not done:
                yield KeepAlive()
        waiting.result()
    finally:
        if not waiting.done():
            waiting.cancel()


def _base(services: Services) -> str:
    return (services.settings.approvals.public_url or "").rstrip("/")
