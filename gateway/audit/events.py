"""The audit log is a stream of typed events, one per decision or transition, built when it happens.

    decision   a policy decision on one phase of a call (or the gateway's own rejection: bad key, bad body)
    held       a call parked in the approval queue            (approvals)
    approved   a reviewer let a held call go                  (approvals; `actor` is the reviewer)
    rejected   a reviewer refused a held call                 (approvals)
    expired    nobody decided in time                         (approvals)
    released   a held call went on after approval             (approvals)
    redacted   the gateway rewrote content before passing it  (PII)
    refused    a reviewer's decision or an agent's receipt the gateway turned down (approvals)
    outcome    how a call ended whose request decision was written ahead of the forward: served, failed
               upstream, client gone, rejected by a reviewer (provider, status, tokens, error, total time)
    shadow     a candidate policy (`policy.shadow`) would have decided otherwise (`policy`: the input, the
               enforced answer, the shadow's; `reasons`: how they differ). Never enforced

An event never holds raw content or PII: names, counts, ids and reasons only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from gateway.model import Attempt

EventType = Literal[
    "decision", "held", "approved", "rejected", "expired", "released", "redacted", "refused", "outcome", "shadow"
]
EVENT_TYPES: tuple[EventType, ...] = (
    "decision",
    "held",
    "approved",
    "rejected",
    "expired",
    "released",
    "redacted",
    "refused",
    "outcome",
    "shadow",
)


class AuditEvent(BaseModel):
    """One row of the audit log (see docs: the README's audit section lists every field)."""

    event: EventType = "decision"
    decision_id: str
    call_id: str
    request_id: str
    ts: datetime = Field(default_factory=lambda: datetime.now(UTC))
    agent: str | None = None
    team: str | None = None
    key_id: str | None = None
    end_user: str | None = None
    surface: str
    kind: str = "model"
    target: str | None = None
    phase: str = "request"
    allow: bool = False
    reasons: list[str] = Field(default_factory=list)
    error_code: str | None = None
    fail_open: bool = False
    policy_version: str | None = None
    provider: str | None = None
    upstream_model: str | None = None
    upstream_status: int | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    tool_calls: list[str] = Field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: dict[str, float] = Field(default_factory=dict)
    total_ms: float = 0.0
    detail: str | None = None
    approval_id: str | None = None
    actor: str | None = None
    pii: list[dict[str, Any]] = Field(default_factory=list)  # findings: type, where, index, span, score, keyed hash
    # a decision's policy input and the policy's answer, for replay and `policy why` (`audit.keep_input`); only
    # in a decision's leaf when present, so events written before it was kept hash as they did
    policy: dict[str, Any] | None = None
    session: str | None = None  # the call's session, hashed with its agent (`gateway.sessions.store.session_id`)
    injection: dict[str, Any] | None = None  # {"score", "where", "signals"} of the untrusted content the call read

    def row(self) -> dict[str, Any]:
        """The event as the audit table stores it."""
        return self.model_dump()


# the export's columns: the original ones first, in their order, so CSV consumers keep working
EXPORT_FIELDS = [
    "ts",
    "decision_id",
    "call_id",
    "request_id",
    "agent",
    "team",
    "key_id",
    "end_user",
    "surface",
    "kind",
    "target",
    "phase",
    "allow",
    "reasons",
    "error_code",
    "fail_open",
    "policy_version",
    "provider",
    "upstream_model",
    "upstream_status",
    "attempts",
    "tool_calls",
    "input_tokens",
    "output_tokens",
    "latency_ms",
    "total_ms",
    "detail",
    "event",
    "approval_id",
    "actor",
    "pii",
    "policy",
    "session",
    "injection",
]
