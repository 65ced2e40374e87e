"""Agent keys: create (shown once), look up by hash, revoke."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from gateway.clock import SYSTEM_CLOCK, Clock
from gateway.errors import StoreUnavailable
from gateway.metrics import Metrics
from gateway.model import Principal
from gateway.store.db import Database
from gateway.store.tables import ApiKey

KEY_PREFIX = "agk_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """Keys are random 256-bit secrets, so a plain SHA-256 is a safe lookup hash.

    Lookups are cached for `cache_s` seconds on `clock` (hits and misses), so a revoked key stops working within that.
    Requests turned away for their key are counted in `metrics` (`gateway_auth_failures_total`).
    """

    def __init__(
        self, db: Database, cache_s: float = 5.0, metrics: Metrics | None = None, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.db = db
        self.cache_s = cache_s
        self.metrics = metrics
        self.clock = clock
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    async def create(
        self, agent: str, team: str | None = None, labels: dict[str, str] | None = None
    ) -> tuple[str, str]:
        """Returns (key_id, key). The key is not stored and cannot be shown again."""
        key_id = secrets.token_hex(8)
        key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        row = ApiKey(
            key_id=key_id,
            key_hash=hash_key(key),
            agent=agent,
            team=team,
            labels=labels or {},
            created_at=datetime.now(UTC),
        )
        async with self.db.sessions.begin() as session:
            session.add(row)
        return key_id, key

    async def revoke_agent(self, agent: str) -> int:
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(ApiKey)
                .where(ApiKey.agent == agent, ApiKey.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
        self._cache.clear()
        return int(getattr(result, "rowcount", 0) or 0)

    async def list(self) -> list[ApiKey]:
        async with self.db.sessions() as session:
            return list((await session.scalars(select(ApiKey).order_by(ApiKey.created_at))).all())

    def refused(self, surface: str, reason: str) -> None:
        """Count a request on `surface` refused for its key: `missing_key` or `unknown_key` (or revoked)."""
        if self.metrics is not None:
            self.metrics.auth_failures.labels(surface, reason).inc()

    async def lookup(self, key: str) -> Principal | None:
        digest = hash_key(key)
        cached = self._cache.get(digest)
        if cached and cached[0] > self.clock.monotonic():
            return cached[1]
        try:
            async with self.db.deadline(), self.db.sessions() as session:
                row = await session.scalar(select(ApiKey).where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None)))
        except (SQLAlchemyError, OSError) as exc:  # asyncpg's refused connection is an OSError
            raise StoreUnavailable("the key store is unavailable; try again shortly") from exc
        principal = (
            Principal(agent=row.agent, team=row.team, key_id=row.key_id, labels=row.labels or {}) if row else None
        )
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (self.clock.monotonic() + self.cache_s, principal)
        return principal
