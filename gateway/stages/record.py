"""Stage 5a: write ahead. The request decision (and what redaction did) is durable before anything acts on
it: before a call is held, routed or forwarded. A kill -9 at any later point leaves no forwarded call
without its record; a store that cannot take the record stops the call with 503 `store_unavailable`."""

from __future__ import annotations

from gateway.audit.journal import Journal
from gateway.errors import StoreUnavailable
from gateway.flight import Flight
from gateway.services import Services
from gateway.stages.audit import write_ahead


async def record(flight: Flight, services: Services, journal: Journal) -> Flight:
    scrub = services.pii.scrubbers if services.pii else None
    if not await write_ahead(journal, flight, services.audit, scrub):
        raise StoreUnavailable("the audit log cannot be written; nothing is forwarded without its record")
    return flight
