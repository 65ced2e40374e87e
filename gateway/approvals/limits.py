"""Failed sign-ins and bad tokens, counted in the store: every worker and replica adds to, and reads, one count.

A row is (scope, subject, window start, failures): one subject (an address, or a name at an address) in one
fixed window of a minute. `hit` adds one to each of its limits by an atomic upsert that returns the new count
(SQLite and PostgreSQL alike, however many processes write), and says how long to wait once a count is past its
limit; the subject waits for the window's end. Rows of past windows are deleted as a new window begins, so a
flood of names or addresses adds one small row each for a minute and never resets a count that matters.

    >>> limits = FailureLimits(db)  # doctest: +SKIP
    >>> per_name = Limit.named("signin", "alice", "203.0.113.9", 5)
    >>> wait = await limits.hit([per_name, Limit.of("signin-address", "203.0.113.9", 50)])  # doctest: +SKIP
    >>> if wait is not None: ...  # refuse with Retry-After: wait  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.clock import SYSTEM_CLOCK, Clock
from gateway.errors import StoreUnavailable
from gateway.store.db import Database
from gateway.store.tables import AuthFailure

WINDOW_S = 60


@dataclass(frozen=True)
class Limit:
    """At most `max` failures of `subject` in `scope` per window."""

    scope: str
    subject: str
    max: int

    @classmethod
    def named(cls, scope: str, name: str, address: str, max: int) -> Limit:
        """A name tried from an address: the name is stored hashed (people type passwords into name fields)."""
        digest = hashlib.sha256(name.encode()).hexdigest()[:32]
        return cls(scope, f"{address[:90]} {digest}", max)

    @classmethod
    def of(cls, scope: str, address: str, max: int) -> Limit:
        return cls(scope, address[:128], max)


class FailureLimits:
    def __init__(self, db: Database, window_s: int = WINDOW_S, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.window_s = window_s
        self.clock = clock
        self._pruned = 0  # the window this process last cleared older rows in

    async def hit(self, limits: Sequence[Limit]) -> int | None:
        """Count one against each of `limits`; the seconds to wait when any is now past its limit, else None."""
        now = self.clock.now().timestamp()  # windows are Unix time: every process counts in the same ones
        window = int(now // self.window_s * self.window_s)
        over = False
        async with self._transaction() as session:
            if window > self._pruned:
                await session.execute(delete(AuthFailure).where(AuthFailure.window_start < window))
                self._pruned = window
            for limit in limits:
                count = (await session.execute(_upsert(self.db.engine.dialect.name, limit, window))).scalar_one()
                over = over or count > limit.max
        return max(1, math.ceil(window + self.window_s - now)) if over else None

    async def undo(self, limits: Sequence[Limit]) -> None:
        """Take back one `hit` (the attempt turned out well: a sign-in that succeeded is no failure)."""
        window = self._window()
        async with self._transaction() as session:
            for limit in limits:
                await session.execute(
                    update(AuthFailure)
                    .where(*_row(limit, window), AuthFailure.failures > 0)
                    .values(failures=AuthFailure.failures - 1)
                )

    async def forget(self, limit: Limit) -> None:
        """Clear the subject's count (a reviewer who signed in starts afresh under their name)."""
        window = self._window()
        async with self._transaction() as session:
            await session.execute(delete(AuthFailure).where(*_row(limit, window)))

    def _window(self) -> int:
        """The start of the window the clock is in."""
        return int(self.clock.now().timestamp() // self.window_s * self.window_s)

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction within the store's deadline; a store that fails or stops answering is a 503."""
        try:
            async with self.db.deadline(), self.db.sessions.begin() as session:
                yield session
        except (SQLAlchemyError, OSError) as exc:  # OSError: unreachable, or past the store's deadline
            raise StoreUnavailable("the store is unavailable; try again shortly") from exc


def _row(limit: Limit, window: int) -> tuple[Any, ...]:
    t = AuthFailure
    return t.scope == limit.scope, t.subject == limit.subject, t.window_start == window


def _upsert(dialect: str, limit: Limit, window: int) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE SET failures = failures + 1 RETURNING failures: one atomic statement."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = {"scope": limit.scope, "subject": limit.subject, "window_start": window, "failures": 1}
    statement = insert(AuthFailure).values(**values)
    return statement.on_conflict_do_update(
        index_elements=["scope", "subject", "window_start"], set_={"failures": AuthFailure.failures + 1}
    ).returning(AuthFailure.failures)
