"""News of changed approvals, from this process and from other replicas.

A change made here is published at once. Changes made by another process sharing the store arrive by
PostgreSQL LISTEN/NOTIFY when the store is PostgreSQL (within milliseconds), and by polling the
`updated_at` index every `approvals.poll_s` in any case (the fallback, and the only way for SQLite).
Waiting calls and the web page's live view both listen here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import make_url, select
from sqlalchemy.exc import SQLAlchemyError

from gateway.approvals.records import aware
from gateway.clock import SYSTEM_CLOCK, Clock, wait_for_event
from gateway.store.db import Database
from gateway.store.tables import ApprovalRow

log = logging.getLogger("gateway.approvals")

CHANNEL = "gateway_approvals"


class ChangeFeed:
    def __init__(self, db: Database, poll_s: float, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.poll_s = poll_s
        self.clock = clock  # what a waiter's timeout goes by (an approval's deadline)
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._subscribers: set[asyncio.Queue[str]] = set()
        self._seen: dict[str, object] = {}  # approval id -> the state (version, updated_at) last published
        self._tasks: list[asyncio.Task[None]] = []
        self._listener: Any = None

    def publish(self, approval_id: str, state: object = None) -> None:
        """Tell waiters and subscribers; `state` (when known) suppresses repeats of a change already told."""
        if state is not None:
            if self._seen.get(approval_id) == state:
                return
            self._seen[approval_id] = state
        for event in self._waiters.get(approval_id, ()):
            event.set()
        for queue in self._subscribers:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(approval_id)

    async def changed(self, approval_id: str, timeout: float) -> None:
        """Return when `approval_id` changes, or after `timeout` seconds on the clock, whichever is first."""
        event = asyncio.Event()
        self._waiters.setdefault(approval_id, set()).add(event)
        try:
            await wait_for_event(self.clock, event, max(0.0, timeout))
        finally:
            waiters = self._waiters.get(approval_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[approval_id]

    async def subscribe(self) -> AsyncIterator[str]:
        """Ids of approvals as they change, for as long as the caller listens."""
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1000)
        self._subscribers.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers.discard(queue)

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._poll()))
        if self.db.url.startswith("postgresql"):
            await self._listen()

    async def _listen(self) -> None:
        import asyncpg

        dsn = make_url(self.db.url).set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            self._listener = await asyncpg.connect(dsn, timeout=self.db.timeout_s)
            await self._listener.add_listener(CHANNEL, lambda *args: self.publish(str(args[-1])))
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("approvals: LISTEN unavailable (%s); relying on polling every %.1fs", exc, self.poll_s)
            self._listener = None

    async def _poll(self) -> None:
        # real time, not the clock: this polls the store for what other processes wrote, by their own clocks
        while True:
            await asyncio.sleep(self.poll_s)
            await self.poll_once(datetime.now(UTC) - timedelta(seconds=self.poll_s + 5))  # overlap: clocks, lag

    async def poll_once(self, since: datetime) -> None:
        """Publish the approvals changed since `since`."""
        try:
            async with self.db.sessions() as session:
                rows = await session.execute(
                    select(ApprovalRow.approval_id, ApprovalRow.version, ApprovalRow.updated_at).where(
                        ApprovalRow.updated_at >= since
                    )
                )
                for approval_id, version, updated_at in rows.all():
                    self.publish(approval_id, (version, aware(updated_at)))
        except (SQLAlchemyError, OSError) as exc:
            log.warning("approvals: polling for changes failed: %s", exc)
        # a row last changed before `since` is never returned again: forget it (memory stays flat)
        self._seen = {k: v for k, v in self._seen.items() if not isinstance(v, tuple) or v[1] >= since}

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close(timeout=self.db.timeout_s)
