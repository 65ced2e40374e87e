"""Stage 1: the presented key -> the Principal it belongs to."""

from __future__ import annotations

from gateway.errors import Unauthenticated
from gateway.model import Inbound, Principal
from gateway.store.keys import KeyStore


async def authenticate(inbound: Inbound, keys: KeyStore) -> Principal:
    if not inbound.api_key:
        raise Unauthenticated("missing agent key: send it as 'Authorization: Bearer <key>' (or 'x-api-key')")
    principal = await keys.lookup(inbound.api_key)
    if principal is None:
        raise Unauthenticated("unknown or revoked agent key")
    return principal.model_copy(update={"end_user": inbound.end_user}) if inbound.end_user else principal
