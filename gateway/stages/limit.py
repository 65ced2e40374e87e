"""Stage 4b: take the call's share of every limit that applies to its caller, before the policy decides (it
sees the counters in `input.usage`); `settle` gives the share back when the call ends and counts what it used.

A limit reached is a 429 in the surface's protocol (`LimitReached`: which limit, its counter, Retry-After) and
audited as the gateway's deny. What a call used: the provider's reported usage; a stream the agent left early
(no usage came) counts its input and the text delivered; a call nothing answered counts nothing.
"""

from __future__ import annotations

import math
from dataclasses import replace

from gateway.audit.journal import Journal
from gateway.flight import Flight
from gateway.limits.limiter import Reservation, Spent
from gateway.services import Services


async def limit(flight: Flight, services: Services, journal: Journal) -> Flight:
    limiter = services.limiter
    if limiter is None or not limiter.active:
        return flight
    reservation = await limiter.reserve(flight.need_call(), services.settings.routes)
    return replace(flight, reservation=reservation) if reservation is not None else flight


def settle(flight: Flight, journal: Journal, services: Services) -> None:
    """End the call's reservation (a no-op without one), once its answer has gone (`Limiter.settle_soon`)."""
    reservation, limiter = flight.reservation, services.limiter
    if reservation is None or limiter is None:
        return
    limiter.settle_soon(reservation, spent(reservation, journal, limiter.limits.usage.chars_per_token))


def spent(reservation: Reservation, journal: Journal, chars_per_token: float) -> Spent:
    """What the call used, from what its journal saw."""
    if not reservation.ask.metered:
        return Spent()
    usage, model = journal.usage_seen, journal.upstream_model
    if usage is not None and journal.error_code != "client_disconnected":
        return Spent(usage.input_tokens, usage.output_tokens, model)
    if journal.provider is None and not journal.delivered:
        return Spent()  # nothing answered: nothing used
    input_tokens = usage.input_tokens if usage is not None and usage.input_tokens else reservation.ask.input_tokens
    delivered = math.ceil(journal.delivered / chars_per_token)
    return Spent(input_tokens, max(usage.output_tokens if usage is not None else 0, delivered), model)
