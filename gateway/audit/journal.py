"""The audit events of one call, recorded when they happen and handed to the audit log when the call ends.

Stages record what they decide (`decided`) and what they learn from upstream (`attempt`, `served`,
`usage`); the pipeline records how the call failed (`failed`). `close` returns the call's events, with
the call's outcome (upstream, tokens, error, total time) on the event it belongs to: the response
decision, or the only decision there is. A call that never reached the policy (bad key, bad body) still
gets one event: the gateway's own deny.

    >>> journal = Journal(Origin(surface="openai", request_id="r1"))
    >>> journal.failed("invalid_api_key", "missing agent key")
    >>> [(e.event, e.allow, e.error_code) for e in journal.close(None, None)]
    [('decision', False, 'invalid_api_key')]
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from connectors.base import ToolCall, Usage
from gateway.audit.events import AuditEvent
from gateway.enforcement import Plan
from gateway.model import Attempt, Call, Decision, Origin, Principal, new_id
from gateway.pii.findings import Finding, Findings
from gateway.sessions.store import session_id

ANSWER_FIELDS = {"allow", "reasons", "hold", "redact", "redact_modes", "route", "hosted_tools", "hosted_unallowed"}
ANSWER_FIELDS |= {"redact_output", "error"}


def answer(decision: Decision) -> dict[str, Any]:
    """What the policy answered (or, `error`, why the gateway decided instead), as replay compares it."""
    return decision.model_dump(mode="json", include=ANSWER_FIELDS)


class Journal:
    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.events: list[AuditEvent] = []
        self.attempts: list[Attempt] = []
        self.stages: dict[str, float] = {}
        self.provider: str | None = None
        self.upstream_model: str | None = None
        self.upstream_status: int | None = None
        self.usage_seen: Usage | None = None
        self.error_code: str | None = None
        self.error: str | None = None
        self.output_findings: list[Finding] = []  # PII in what came back, for the response decision
        self.approval_id: str | None = None  # the approval this call was held on, if any
        self.delivered = 0  # characters of text and tool arguments a stream handed the agent
        self.handed = 0  # how many of `events` were already written ahead (`flush`)
        self.injection: dict[str, Any] | None = None  # injection signals of the untrusted content the call read
        self.flagged: list[dict[str, Any]] = []  # its flagged passages, with their context, for a reviewer

    @property
    def decision_id(self) -> str | None:
        """The id of the latest decision (for the response header), None before the first."""
        decisions = [e for e in self.events if e.event == "decision"]
        return decisions[-1].decision_id if decisions else None

    def time(self, stage: str, started: float) -> None:
        """Add the time since `started` (a `time.perf_counter()`) to `stage`'s latency, in milliseconds."""
        self.stages[stage] = round(self.stages.get(stage, 0.0) + (time.perf_counter() - started) * 1000, 3)

    def decided(
        self,
        principal: Principal,
        call: Call,
        decision: Decision,
        plan: Plan,
        tool_calls: list[ToolCall],
        findings: Findings | None = None,
    ) -> None:
        event = self._event(decision.decision_id, principal, call)
        event.phase, event.allow, event.reasons = decision.phase, plan.action != "deny", plan.reasons
        if plan.action == "hold" and plan.hold is not None:
            event.reasons = [*plan.reasons, f"held for approval: {plan.hold.reason}"]
        event.error_code, event.fail_open = decision.error, decision.fail_open
        event.policy_version = decision.policy_version or None
        event.tool_calls = [t.name for t in tool_calls] if decision.phase == "response" else []
        event.latency_ms = {"decide": decision.latency_ms}
        event.pii = [f.record() for f in findings.items] if findings else []
        if plan.input:
            event.policy = {"input": plan.input, "decision": answer(decision)}
        self.events.append(event)

    def redacted(self, principal: Principal, call: Call, done: list[tuple[Finding, str]], phase: str) -> None:
        """What the redaction stage rewrote: each value's type, position, keyed hash and the mode used."""
        event = self._event(new_id(), principal, call)
        event.event, event.phase, event.allow = "redacted", phase, True
        counts: dict[str, int] = {}
        for finding, mode in done:
            counts[f"{finding.type} ({mode})"] = counts.get(f"{finding.type} ({mode})", 0) + 1
        event.reasons = [f"{kind} x{n}" for kind, n in sorted(counts.items())]
        event.pii = [{**finding.record(), "mode": mode} for finding, mode in done]
        self.events.append(event)

    def attempt(self, attempt: Attempt) -> None:
        self.attempts.append(attempt)

    def served(self, provider: str, model: str, status: int) -> None:
        self.provider, self.upstream_model, self.upstream_status = provider, model, status

    def upstream_failed(self, status: int | None) -> None:
        self.upstream_status = status

    def usage(self, usage: Usage) -> None:
        self.usage_seen = usage

    def failed(self, code: str, message: str) -> None:
        self.error_code, self.error = code, message

    def _event(self, decision_id: str, principal: Principal | None, call: Call | None) -> AuditEvent:
        """An event of this call: who called, what they asked for."""
        o = self.origin
        agent = principal.agent if principal else None
        return AuditEvent(
            decision_id=decision_id,
            call_id=o.call_id,
            request_id=o.request_id,
            ts=datetime.fromtimestamp(o.started, UTC),
            agent=agent,
            team=principal.team if principal else None,
            key_id=principal.key_id if principal else None,
            end_user=principal.end_user if principal else o.end_user,
            surface=o.surface,
            kind=call.kind if call else "model",
            target=call.target if call else None,
            session=session_id(agent, o.session) if agent and o.session else None,
            injection=self.injection,
        )

    def _rejection(self, principal: Principal | None, call: Call | None) -> AuditEvent:
        """A call that never reached the policy is still a decision: the gateway's deny."""
        event = self._event(new_id(), principal, call)
        event.reasons, event.error_code = [self.error or "rejected"], self.error_code
        return event

    def flush(self) -> list[AuditEvent]:
        """The events recorded since the last flush, as they stand now (written ahead of the forward: the
        request decision is durable before anything acts on it). Their outcome comes later, in `close`."""
        fresh = self.events[self.handed :]
        self.handed = len(self.events)
        total_ms = round((time.time() - self.origin.started) * 1000, 3)
        for event in fresh:
            event.total_ms = total_ms
            event.approval_id = event.approval_id or self.approval_id
            if event.event == "decision":
                event.latency_ms = {**self.stages, **event.latency_ms}
        return fresh

    def close(self, principal: Principal | None, call: Call | None) -> list[AuditEvent]:
        """The call's events not yet written, its outcome on the one it belongs to (the response decision, or
        the only decision there is); when that one was written ahead, an `outcome` event carries it. Call
        once, when the call ends."""
        if not self.events:  # kept, so `decision_id` names it (the error response carries it)
            self.events.append(self._rejection(principal, call))
            self.handed = len(self.events)
            return self._finished(self.events[-1:], principal, call)
        decisions = [e for e in self.events if e.event == "decision"]
        owner = next((e for e in decisions if e.phase == "response"), decisions[0] if len(decisions) == 1 else None)
        events = self.events[self.handed :]
        if owner is not None and owner not in events:
            owner = self._outcome(owner)
            events.append(owner)
        return self._finished(events, principal, call, owner)

    def _outcome(self, decided: AuditEvent) -> AuditEvent:
        """How a call whose decision was written ahead ended: served, failed upstream, gone, rejected..."""
        event = decided.model_copy(update={"decision_id": new_id(), "event": "outcome", "reasons": []})
        event.allow = decided.allow and self.error_code is None
        event.error_code = None
        return event

    def _finished(
        self,
        events: list[AuditEvent],
        principal: Principal | None,
        call: Call | None,
        owner: AuditEvent | None = None,
    ) -> list[AuditEvent]:
        total_ms = round((time.time() - self.origin.started) * 1000, 3)
        for event in events:
            event.total_ms = total_ms
            event.approval_id = event.approval_id or self.approval_id
            if event.event not in ("decision", "outcome"):
                continue
            event.latency_ms = (
                {**self.stages, **event.latency_ms}
                if event.event == "decision"
                else {**event.latency_ms, **self.stages}
            )
            event.provider, event.upstream_model = self.provider, self.upstream_model
            event.upstream_status = self.upstream_status
            event.attempts = list(self.attempts)
            if self.usage_seen is not None:
                event.input_tokens, event.output_tokens = self.usage_seen.input_tokens, self.usage_seen.output_tokens
            if event is owner or owner is None:  # the call's error belongs to the event that carries its outcome
                event.error_code = event.error_code or self.error_code
                event.detail = self.error
        return events
