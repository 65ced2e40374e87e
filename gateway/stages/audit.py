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
from gateway.audit.inputs import Scrubbers, kept
from gateway.audit.journal import Journal
from gateway.audit.records import AuditLog
from gateway.errors import Unauthenticated
from gateway.flight import Flight
from gateway.model import new_id
from gateway.proxies import client_host

log = logging.getLogger("gateway.audit")


def _events(journal: Journal, flight: Flight) -> list[AuditEvent]:
    try:
        return journal.close(flight.principal, flight.call)
    except Exception:
        log.exception("building the audit events of request %s failed", flight.origin.request_id)
        return [_minimal(flight)]


def _minimal(flight: Flight) -> AuditEvent:
    """What is always known about a call, for when building its events failed (a bug)."""
    o = flight.origin
    return AuditEvent(
        decision_id=new_id(),
        call_id=o.call_id,
        request_id=o.request_id,
        surface=o.surface,
        reasons=["internal error while recording this call"],
        error_code="internal_error",
    )


def _scrubbed(events: list[AuditEvent], scrubbers: Scrubbers | None, keep_input: str = "summary") -> list[AuditEvent]:
    """Texts the gateway wrote down from elsewhere (an upstream's error message, a policy's reasons) can
    quote what the agent sent, and the names an agent chose (end user, model, request id) can be PII
    themselves: PII in them is replaced by its type before the log keeps them; so is PII in a decision's
    kept policy input (tool-call arguments, the end user), unless `audit.keep_input` is `full`."""
    if scrubbers is None:
        return events
    scrub, name = scrubbers
    for event in events:
        if event.policy is not None:
            event.policy = kept(event.policy, scrubbers, keep_input)
        event.end_user = name(event.end_user) if event.end_user else event.end_user
        event.target = name(event.target) if event.target else event.target
        event.request_id = name(event.request_id)
        event.reasons = [scrub(reason) for reason in event.reasons]
        event.detail = scrub(event.detail) if event.detail else event.detail
        event.attempts = [a.model_copy(update={"error": scrub(a.error)}) if a.error else a for a in event.attempts]
    return events


async def write_ahead(journal: Journal, flight: Flight, audit_log: AuditLog, scrub: Scrubbers | None = None) -> bool:
    """Make the call's events so far (its request decision, its redactions) durable now, before the forward;
    False when the store did not take them (they went to the error log and were counted)."""
    events = _scrubbed(journal.flush(), scrub, audit_log.keep_input)
    if not events:
        return True
    return await audit_log.write([event.row() for event in events])


async def audit(
    journal: Journal,
    flight: Flight,
    audit_log: AuditLog,
    close: Callable[[], Awaitable[None]] | None = None,
    scrub: Scrubbers | None = None,
) -> None:
    """Record the call; `close` (releasing the upstream) runs after the hand-over, before the wait."""
    try:
        events = _scrubbed(_events(journal, flight), scrub, audit_log.keep_input)
    except Exception:
        log.exception("scrubbing the audit events of request %s failed", flight.origin.request_id)
        events = [_minimal(flight)]
    done = _handed(journal, flight, audit_log, events)
    if close is None:  # nothing to release: a cancelled wait loses nothing, the writer commits regardless
        await asyncio.shield(done)
        return
    with anyio.CancelScope(shield=True):
        try:
            if close is not None:
                await close()
        finally:
            await done


def _handed(journal: Journal, flight: Flight, audit_log: AuditLog, events: list[AuditEvent]) -> asyncio.Future[bool]:
    """Hand the events to the log. A call refused for its key is written only if it is the first of its address
    and reason this minute (the rest are counted for a summary event): a flood of bad keys stays a few rows."""
    if flight.principal is None and journal.error_code == Unauthenticated.code and len(events) == 1:
        return audit_log.refusal(events[0], client_host())
    return audit_log.submit([event.row() for event in events])
