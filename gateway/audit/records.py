"""Audit records: built from a finished call's trace (one per decision), written, read back for export."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from gateway.model import Decision, Trace
from gateway.store.db import Database
from gateway.store.tables import AuditEvent

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
]


def _rejection(trace: Trace) -> Decision:
    """A call that never reached the policy (bad key, bad body) is still a decision: the gateway's deny."""
    return Decision(phase="request", allow=False, reasons=[trace.error or "rejected"], error=trace.error_code)


def build_events(trace: Trace) -> list[AuditEvent]:
    decisions = trace.decisions or [_rejection(trace)]
    call, principal = trace.call, trace.principal
    total_ms = round((time.time() - trace.started) * 1000, 3)
    events = []
    for decision in decisions:
        upstream = decision.phase == "response" or len(decisions) == 1
        events.append(
            AuditEvent(
                decision_id=decision.decision_id,
                call_id=trace.call_id,
                request_id=trace.inbound.request_id,
                ts=datetime.fromtimestamp(trace.started, UTC),
                agent=principal.agent if principal else None,
                team=principal.team if principal else None,
                key_id=principal.key_id if principal else None,
                end_user=trace.inbound.end_user,
                surface=trace.inbound.surface,
                kind=call.kind if call else "model",
                target=call.target if call else None,
                phase=decision.phase,
                allow=decision.allow,
                reasons=decision.reasons,
                error_code=decision.error or (trace.error_code if upstream else None),
                fail_open=decision.fail_open,
                policy_version=decision.policy_version or None,
                provider=trace.provider,
                upstream_model=trace.upstream_model,
                upstream_status=trace.upstream_status,
                attempts=[a.model_dump() for a in trace.attempts],
                tool_calls=[t.name for t in trace.tool_calls] if decision.phase == "response" else [],
                input_tokens=trace.input_tokens,
                output_tokens=trace.output_tokens,
                latency_ms={**trace.timer.stages, "decide": decision.latency_ms},
                total_ms=total_ms,
                detail=trace.error if upstream else None,
            )
        )
    return events


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def write(self, events: list[AuditEvent]) -> None:
        async with self.db.sessions.begin() as session:
            session.add_all(events)

    async def read(self, since: datetime | None = None, until: datetime | None = None) -> AsyncIterator[dict[str, Any]]:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if since:
            query = query.where(AuditEvent.ts >= since)
        if until:
            query = query.where(AuditEvent.ts < until)
        async with self.db.sessions() as session:
            for row in (await session.scalars(query)).all():
                yield as_dict(row)


def as_dict(row: AuditEvent) -> dict[str, Any]:
    out = {name: getattr(row, name) for name in EXPORT_FIELDS}
    ts = out["ts"]
    out["ts"] = (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).isoformat()
    return out
