"""Stage 2: the raw body -> a typed `Call`, through the surface's own parser. It runs after authentication,
so a caller without a valid key learns nothing about what the gateway accepts. The body goes no further."""

from __future__ import annotations

from dataclasses import replace

from connectors.errors import WireFormatError
from gateway.audit.journal import Journal
from gateway.errors import InvalidRequest
from gateway.flight import Flight
from gateway.model import Call, ModelPayload
from gateway.services import Services


async def parse(flight: Flight, services: Services, journal: Journal) -> Flight:
    inbound, principal = flight.need_inbound(), flight.principal
    if principal is None:
        raise RuntimeError("stage order: parse runs after authenticate")
    try:
        payload = inbound.parse(inbound.body)
    except WireFormatError as exc:
        raise InvalidRequest(str(exc), exc.param) from exc
    user = payload.request.user if isinstance(payload, ModelPayload) else None
    if principal.end_user is None and user:  # X-End-User wins over the body's `user`
        principal = principal.model_copy(update={"end_user": user})
    call = Call(
        surface=flight.origin.surface, principal=principal, request_id=flight.origin.request_id, payload=payload
    )
    return replace(flight, principal=principal, call=call, inbound=None)
