"""Stage 2b: find PII and secrets in every text of the call, before the policy decides (it sees them in
`input.pii`). Nothing is changed here; the redact stage carries out what the decision asks."""

from __future__ import annotations

from dataclasses import replace

from gateway.audit.journal import Journal
from gateway.flight import Flight
from gateway.pii.segments import segments
from gateway.services import Services


async def inspect(flight: Flight, services: Services, journal: Journal) -> Flight:
    if services.pii is None:
        return flight
    texts = [(where, index, text) for where, index, text, _ in segments(flight.need_call().payload)]
    return replace(flight, findings=await services.pii.inspect(texts))
