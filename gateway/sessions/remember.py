"""The session's part of the request path: `recall` (a request stage, after inspection) and `remember` (when
the call ends, with its audit).

`recall` reads the session's summary as it was before this call (the policy sees it as `input.session`)
and adds this call: one call, its target, the PII types in its request. A store that cannot take that
stops the call (503 `store_unavailable`): the policy must not decide on a memory that silently lost a
call. `remember` adds what came back (PII in the tool result, the agent's or the model's answer) and
whether the call was denied or held; it never fails the call (it is over), a failure is logged.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anyio

from gateway.audit.journal import Journal
from gateway.errors import StoreUnavailable
from gateway.flight import Flight
from gateway.model import Call, ToolPayload
from gateway.pii.findings import Finding
from gateway.sessions.summary import ANSWER_SOURCES, Observation, Source, empty, nothing_untrusted

if TYPE_CHECKING:
    from gateway.services import Services

log = logging.getLogger("gateway.sessions")


def _counts(findings: list[Finding] | tuple[Finding, ...], source: Source) -> dict[tuple[str, Source], int]:
    counts: dict[tuple[str, Source], int] = {}
    for finding in findings:
        counts[(finding.type, source)] = counts.get((finding.type, source), 0) + 1
    return counts


def _target(call: Call) -> tuple[str, str, str | None]:
    server = call.payload.server if isinstance(call.payload, ToolPayload) else None
    return call.kind, call.target, server


def session_doc(named_by: str, summary: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    """`input.session` for a call in a session: what was seen before it (`new`: nothing yet, as of `now`)."""
    if summary is None:
        return {"named_by": named_by, "new": True, **empty(now)}
    return {"named_by": named_by, "new": False, "injection": nothing_untrusted(), **summary}


def _injection(journal: Journal) -> dict[str, Any] | None:
    """What the call's scan found, for its session (`flagged`: a part was at or above the threshold)."""
    if journal.injection is None:
        return None
    return {**journal.injection, "flagged": bool(journal.injection["where"])}


def _sealed(services: Services, journal: Journal) -> bytes | None:
    """The call's flagged passages, sealed for a reviewer of a later call of the session (none without a queue)."""
    if not journal.flagged or services.approvals is None:
        return None
    return services.approvals.cipher.seal({"flagged": journal.flagged})


async def recall(flight: Flight, services: Services, journal: Journal) -> Flight:
    store, key = services.sessions, flight.origin.session
    if store is None or key is None:
        return flight
    call = flight.need_call()
    findings = flight.findings.items if flight.findings else ()
    seen = Observation(pii=_counts(findings, "request"), target=_target(call), calls=1, injection=_injection(journal))
    before = await store.observe(call.principal.agent, key, seen, _sealed(services, journal))
    return replace(flight, session=session_doc(key[0], before, services.clock.now()))


def _outcome(flight: Flight, journal: Journal) -> Observation:
    call = flight.need_call()
    source = ANSWER_SOURCES.get(call.kind)
    pii = _counts(journal.output_findings, source) if source else {}
    denied = any(e.event == "decision" and not e.allow for e in journal.events)
    held = journal.approval_id is not None or (flight.plan is not None and flight.plan.action == "hold")
    answered = _injection(journal) if source in ("tool_result", "agent_answer") else None  # a model's: at recall
    return Observation(pii=pii, denied=denied, held=held, injection=answered)


async def remember(flight: Flight, journal: Journal, services: Services) -> None:
    """Add the call's answer and outcome to its session (a call that never reached `recall` adds nothing)."""
    store, key = services.sessions, flight.origin.session
    if store is None or key is None or flight.session is None or flight.call is None:
        return
    seen = _outcome(flight, journal)
    if seen.empty:
        return
    sealed = _sealed(services, journal) if seen.injection is not None else None
    try:
        with anyio.CancelScope(shield=True):  # the call may be ending in a cancellation (the agent left)
            await store.observe(flight.call.principal.agent, key, seen, sealed)
    except StoreUnavailable:
        log.warning("session of request %s: its outcome could not be recorded", flight.origin.request_id)
