"""Stage 9: a call's audit events go to the audit log in the pipeline's one `finally`, whatever happened.

The events are handed over synchronously (`AuditLog.submit`), so nothing can cancel the call between its end
and its records; the rest (closing the upstream, waiting until the events are durable) runs under a shielded
cancel scope, so a client that disconnects cannot erase its own record. A bug while building the events
still leaves a minimal record and a log line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import anyio

from gateway.audit.events import AuditEvent
from gateway.audit.journal import Journal
from gateway.audit.records import AuditLog
from gateway.flight import Flight
from gateway.model import new_id

log = logging.getLogger("gateway.audit")


def _events(journal: Journal, flight: Flight) -> list[AuditEvent]:
    try:
        return journal.close(flight.principal, flight.call)
    except Exception:
        log.exception("building the audit events of request %s failed", flight.origin.request_id)
        o = flight.origin
        return [
            AuditEvent(
                decision_id=new_id(),
                call_id=o.call_id,
                request_id=o.request_id,
                surface=o.surface,
                reasons=["internal error while recording this call"],
                error_code="internal_error",
            )
        ]


async def audit(
    journal: Journal, flight: Flight, audit_log: AuditLog, close: Callable[[], Awaitable[None]] | None = None
) -> None:
    """Record the call; `close` (releasing the upstream) runs after the hand-over, before the wait."""
    done = audit_log.submit([event.row() for event in _events(journal, flight)])
    if close is None:  # nothing to release: a cancelled wait loses nothing, the writer commits regardless
        await asyncio.shield(done)
        return
    with anyio.CancelScope(shield=True):
        try:
            if close is not None:
                await close()
        finally:
            await done
