"""Stage 9: one audit record per decision, written in the pipeline's `finally` and shielded from
cancellation so a client that disconnects cannot erase its own record."""

from __future__ import annotations

from gateway.audit.records import AuditLog, build_events
from gateway.model import Trace


async def audit(trace: Trace, audit_log: AuditLog) -> None:
    await audit_log.write(build_events(trace))
