"""The audit log's writer and reader: events go in with group commit and come back out for export."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit.events import EXPORT_FIELDS
from gateway.metrics import Metrics
from gateway.store.db import Database
from gateway.store.tables import AuditEventRow

log = logging.getLogger("gateway.audit")


class AuditLog:
    """Writes audit rows with group commit and reads them back.

    `submit` hands rows over at once (no await, so no cancellation can come between a call's end and its
    records) and returns a future that is done once they are committed; `write` submits and waits. Rows
    that arrive while a commit is running are written together in the next one, by a single writer, so
    concurrent calls never contend for SQLite's lock and a burst costs one transaction instead of one each.
    Rows that cannot be stored after retries are written to the error log as JSON (they hold no raw content
    or PII) and counted, never silently dropped.
    """

    def __init__(self, db: Database, metrics: Metrics | None = None, retries: int = 3) -> None:
        self.db = db
        self.metrics = metrics
        self.retries = retries
        self._pending: list[tuple[list[dict[str, Any]], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._conn: AsyncConnection | None = None  # the writer's own connection: no pool round trip per batch

    def submit(self, rows: list[dict[str, Any]]) -> asyncio.Future[None]:
        done = asyncio.get_running_loop().create_future()
        self._pending.append((rows, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        return done

    async def write(self, rows: list[dict[str, Any]]) -> None:
        await asyncio.shield(self.submit(rows))

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            await self._commit([row for rows, _ in batch for row in rows])
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def _commit(self, rows: list[dict[str, Any]]) -> None:
        for attempt in range(self.retries + 1):
            try:
                if self._conn is None:
                    self._conn = await self.db.engine.connect()
                async with self._conn.begin():
                    await self._conn.execute(insert(AuditEventRow), rows)
                return
            except SQLAlchemyError as exc:
                await self._drop_connection()
                if attempt == self.retries:
                    self._spill(rows, exc)
                    return
                await asyncio.sleep(0.05 * 2**attempt)

    def _spill(self, rows: list[dict[str, Any]], exc: Exception) -> None:
        if self.metrics:
            self.metrics.audit_failures.inc(len(rows))
        for row in rows:
            log.error("audit record not stored (%s): %s", type(exc).__name__, json.dumps(row, default=str))

    async def _drop_connection(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(SQLAlchemyError):
                await conn.close()

    async def aclose(self) -> None:
        """Wait for rows already handed over (called at shutdown), then release the writer's connection."""
        if self._writer is not None:
            await self._writer
        await self._drop_connection()

    async def read(self, since: datetime | None = None, until: datetime | None = None) -> AsyncIterator[dict[str, Any]]:
        query = select(AuditEventRow).order_by(AuditEventRow.id)
        if since:
            query = query.where(AuditEventRow.ts >= since)
        if until:
            query = query.where(AuditEventRow.ts < until)
        async with self.db.sessions() as session:
            rows = await session.stream_scalars(query.execution_options(yield_per=1000))  # not all in memory
            async for row in rows:
                yield as_dict(row)


def as_dict(row: AuditEventRow) -> dict[str, Any]:
    out = {name: getattr(row, name) for name in EXPORT_FIELDS}
    ts = out["ts"]
    out["ts"] = (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).isoformat()
    return out
