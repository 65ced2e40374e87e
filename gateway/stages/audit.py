"""Stage 9: one audit record per decision, written in the pipeline's `finally` and shielded from
cancellation so a client that disconnects cannot erase its own record."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError

from gateway.audit.records import AuditLog, build_events
from gateway.model import Trace

log = logging.getLogger("gateway.audit")


async def audit(trace: Trace, audit_log: AuditLog) -> None:
    events = build_events(trace)
    try:
        await asyncio.shield(audit_log.write(events))
    except SQLAlchemyError:
        log.exception("audit write failed for call %s (%d decisions)", trace.call_id, len(events))
