"""Stage 1: the presented key -> the Principal it belongs to. The key goes no further than this stage."""

from __future__ import annotations

from dataclasses import replace

from pydantic import SecretStr

from gateway.audit.journal import Journal
from gateway.errors import Unauthenticated
from gateway.flight import Flight
from gateway.model import Origin, Principal
from gateway.services import Services
from gateway.store.keys import KeyStore


async def identify(api_key: SecretStr | None, origin: Origin, keys: KeyStore) -> Principal:
    """The principal of `api_key`, with the end user the agent named in `X-End-User`."""
    if api_key is None or not api_key.get_secret_value():
        keys.refused(origin.surface, "missing_key")
        raise Unauthenticated("missing agent key: send it as 'Authorization: Bearer <key>' (or 'x-api-key')")
    principal = await keys.lookup(api_key.get_secret_value())
    if principal is None:
        keys.refused(origin.surface, "unknown_key")
        raise Unauthenticated("unknown or revoked agent key")
    return principal.model_copy(update={"end_user": origin.end_user}) if origin.end_user else principal


async def authenticate(flight: Flight, services: Services, journal: Journal) -> Flight:
    inbound = flight.need_inbound()
    principal = await identify(inbound.api_key, flight.origin, services.keys)
    return replace(flight, principal=principal, inbound=replace(inbound, api_key=None))
