"""The `sessions` table: one summary per (agent, session), updated without lost updates, forgotten when idle.

A writer locks the row (a no-op update first, so writers of one session queue on PostgreSQL's row lock or
SQLite's write lock), reads it and its `version`, computes the new summary, and writes it only where the
version is still the one it read (a conditional update; a new session is an insert that fails if another
writer made it first). A loser reads again and re-applies its observation, so two calls of one session
running at once on two replicas both count. The key stored is a hash of the agent, how the session was
named and its key: the session key itself is not kept, and another agent's key never reaches the same row.

    >>> store = SessionStore(db, settings.sessions)  # doctest: +SKIP
    >>> before = await store.observe("support-bot", ("header", "chat-42"), Observation(calls=1))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from gateway.clock import SYSTEM_CLOCK, Clock
from gateway.errors import StoreUnavailable
from gateway.sessions.summary import Observation, apply
from gateway.settings import SessionsConfig
from gateway.store.db import Database
from gateway.store.tables import SessionSummary

SessionKey = tuple[str, str]  # (how it was named: header, mcp, a2a, responses; the key)
TRIES = 12  # conditional-update rounds before giving up (each a fresh read)
_CONFLICT = object()


def session_id(agent: str, key: SessionKey) -> str:
    """The row's id: scoped to the agent, so equal keys sent by two agents are two sessions."""
    return hashlib.sha256("\x00".join((agent, *key)).encode()).hexdigest()


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)  # SQLite gives naive datetimes back


class SessionStore:
    def __init__(self, db: Database, config: SessionsConfig, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.config = config
        self.clock = clock  # sessions expire by it

    async def observe(
        self, agent: str, key: SessionKey, seen: Observation, flagged: bytes | None = None
    ) -> dict[str, Any] | None:
        """Add `seen` to the session; returns the summary as it was before (None: a new or expired session).
        `flagged` (sealed passages of untrusted content that scored high) replaces the session's, if given."""
        sid = session_id(agent, key)
        for attempt in range(TRIES):
            try:
                before = await self._once(sid, agent, seen, flagged)
            except (IntegrityError, DBAPIError) as exc:  # a racing insert, or SQLite's busy snapshot: read again
                if attempt == TRIES - 1:
                    raise StoreUnavailable("the session store is unavailable; try again shortly") from exc
                before = _CONFLICT
            except (SQLAlchemyError, OSError) as exc:  # OSError: unreachable, or past the store's deadline
                raise StoreUnavailable("the session store is unavailable; try again shortly") from exc
            if before is not _CONFLICT:
                return before  # type: ignore[return-value]
            await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise StoreUnavailable("the session summary kept changing under this call; try again")

    async def _once(self, sid: str, agent: str, seen: Observation, flagged: bytes | None) -> object:
        now = self.clock.now()
        values: dict[str, Any] = {"updated_at": now, "expires_at": now + timedelta(seconds=self.config.ttl_s)}
        if flagged is not None:
            values["flagged"] = flagged
        table = SessionSummary
        async with self.db.deadline(), self.db.sessions.begin() as session:
            # take the row's write lock first (PostgreSQL: the row; SQLite: the database), so writers of one
            # session queue here instead of failing their conditional update over and over
            await session.execute(
                update(table)
                .where(table.session_id == sid)
                .values(version=table.version)
                .execution_options(synchronize_session=False)
            )
            query = select(table.summary, table.version, table.expires_at).where(table.session_id == sid)
            row = (await session.execute(query)).first()
            live = row is not None and _aware(row.expires_at) > now
            before = row.summary if row is not None and live else None
            values["summary"] = apply(before, seen, now, self.config.max_entries)
            if row is None:
                await session.execute(delete(table).where(table.expires_at < now))  # forget idle sessions
                await session.execute(
                    insert(table).values(session_id=sid, agent=agent, version=1, created_at=now, **values)
                )
                return before
            if not live:
                values["created_at"] = now
                values.setdefault("flagged", None)  # an expired session's passages go with it
            done = await session.execute(
                update(table)
                .where(table.session_id == sid, table.version == row.version)
                .values(version=row.version + 1, **values)
                .execution_options(synchronize_session=False)
            )
            if getattr(done, "rowcount", 0) != 1:
                return _CONFLICT
        return before

    async def flagged(self, agent: str, key: SessionKey) -> bytes | None:
        """The session's sealed flagged passages (None: none, or the session is unknown or expired)."""
        table = SessionSummary
        query = select(table.flagged, table.expires_at).where(table.session_id == session_id(agent, key))
        try:
            async with self.db.deadline(), self.db.engine.connect() as conn:
                row = (await conn.execute(query)).first()
        except (SQLAlchemyError, OSError) as exc:
            raise StoreUnavailable("the session store is unavailable; try again shortly") from exc
        if row is None or _aware(row.expires_at) <= self.clock.now():
            return None
        return bytes(row.flagged) if row.flagged is not None else None

    async def read(self, agent: str, key: SessionKey) -> dict[str, Any] | None:
        """The session's summary now (None: unknown or expired), without adding to it."""
        sid = session_id(agent, key)
        try:
            async with self.db.deadline(), self.db.sessions() as session:
                row = (
                    await session.execute(
                        select(SessionSummary.summary, SessionSummary.expires_at).where(
                            SessionSummary.session_id == sid
                        )
                    )
                ).first()
        except (SQLAlchemyError, OSError) as exc:
            raise StoreUnavailable("the session store is unavailable; try again shortly") from exc
        if row is None or _aware(row.expires_at) <= self.clock.now():
            return None
        return dict(row.summary)
