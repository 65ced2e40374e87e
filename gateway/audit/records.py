"""The audit log's writer and reader: events go in with group commit (numbered and hashed into the log's
Merkle tree, `gateway.audit.tree`) and come back out for export and verification."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Select, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit import tree
from gateway.audit.anchors import Anchoring
from gateway.audit.events import EXPORT_FIELDS, AuditEvent
from gateway.audit.refusals import RefusalSampler
from gateway.audit.signing import Signer, signer_from
from gateway.clock import SYSTEM_CLOCK, Clock
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.store.db import Database
from gateway.store.sqlite_thread import SqliteThread
from gateway.store.tables import AuditEventRow

log = logging.getLogger("gateway.audit")

Q = TypeVar("Q", bound=Select[*tuple[Any, ...]])
STORED_FIELDS = [*EXPORT_FIELDS, "seq", "leaf_hash"]  # what export and verification read: the event, its leaf


@dataclass(frozen=True)
class Filters:
    """Which events to read: a time range (`since` inclusive, `until` exclusive) and exact matches."""

    since: datetime | None = None
    until: datetime | None = None
    agent: str | None = None
    team: str | None = None
    event: str | None = None
    allow: bool | None = None

    def apply(self, query: Q) -> Q:
        t = AuditEventRow
        conditions = [
            t.ts >= self.since if self.since else None,
            t.ts < self.until if self.until else None,
            t.agent == self.agent if self.agent is not None else None,
            t.team == self.team if self.team is not None else None,
            t.event == self.event if self.event is not None else None,
            t.allow == self.allow if self.allow is not None else None,
        ]
        return query.where(*(c for c in conditions if c is not None))


class AuditLog:
    """Writes audit rows with group commit and reads them back.

    `submit` hands rows over at once (no await, so no cancellation can come between a call's end and its
    records) and returns a future that is done once they are committed; `write` submits and waits. Rows
    that arrive while a commit is running are written together in the next one, by a single writer, so
    concurrent calls never contend for SQLite's lock and a burst costs one transaction instead of one each.
    Rows that cannot be stored after retries are written to the error log as JSON (they hold no raw content
    or PII) and counted, never silently dropped. When a batch fails, each call's rows are retried alone, so
    one row the store refuses never takes other calls' rows with it. The future says whether the rows are
    durable (True) or were spilled (False): the write-ahead of a decision refuses to forward on False.
    Requests refused for their credentials go through `refusal` (`gateway.audit.refusals`): a flood of them
    adds a bounded number of rows a minute, the rest counted in summary events.
    """

    def __init__(
        self,
        db: Database,
        metrics: Metrics | None = None,
        retries: int = 3,
        signer: Signer | None = None,
        checkpoint_every: int = 1000,
        checkpoint_interval_s: float = 60.0,
        anchoring: Anchoring | None = None,
        clock: Clock = SYSTEM_CLOCK,
        keep_input: str = "summary",
    ) -> None:
        self.db = db
        self.keep_input = keep_input  # a decision's policy input: as evaluated (full), or PII values typed (summary)
        self.clock = clock  # checkpoint and refusal-summary intervals go by it
        self.anchoring = anchoring if anchoring is not None and anchoring.enabled else None
        self._anchor: asyncio.Task[None] | None = None
        self.metrics = metrics
        self.retries = retries
        self.signer = signer  # None: the tree is kept but no checkpoint is signed (no key configured)
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval_s = checkpoint_interval_s
        self._pending: list[tuple[list[dict[str, Any]], asyncio.Future[bool], float]] = []
        self._writer: asyncio.Task[None] | None = None
        self._timer: asyncio.Task[None] | None = None
        self.refusals = RefusalSampler(clock=clock)
        self._summaries: asyncio.Task[None] | None = None
        self._conn: AsyncConnection | None = None  # the writer's own connection: no pool round trip per batch
        # a SQLite file: each batch is one hop to a thread of its own instead of one per statement
        self._sqlite: SqliteThread | None = None

    @classmethod
    def from_settings(
        cls, db: Database, settings: Settings, metrics: Metrics | None = None, clock: Clock = SYSTEM_CLOCK
    ) -> AuditLog:
        """The gateway's audit log: checkpoints signed with the configured key (one is created beside a SQLite
        store on first run); without a key (PostgreSQL with none configured) events are still chained into
        the tree, but nothing is signed and a warning says so."""
        signer = signer_from(settings)
        if signer is None:
            log.warning("audit: no signing key (set audit.signing_key_env or signing_key_file): no checkpoints")
        config = settings.audit
        return cls(
            db,
            metrics,
            signer=signer,
            checkpoint_every=config.checkpoint_every,
            checkpoint_interval_s=config.checkpoint_interval_s,
            anchoring=Anchoring(config.anchors, db, metrics, config.origin, clock) if signer is not None else None,
            clock=clock,
            keep_input=config.keep_input,
        )

    def submit(self, rows: list[dict[str, Any]]) -> asyncio.Future[bool]:
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((rows, done, time.perf_counter()))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        return done

    def start(self) -> None:
        """Sign a checkpoint every `checkpoint_interval_s` while new events arrive (called in the lifespan)."""
        if self.signer is not None and self._timer is None:
            self._timer = asyncio.create_task(self._checkpoint_timer())
        if self._summaries is None:
            self._summaries = asyncio.create_task(self._summary_timer())
        if self.anchoring is not None and self._anchor is None:
            self._anchor = asyncio.create_task(self.anchoring.run())

    def refusal(self, event: AuditEvent, address: str) -> asyncio.Future[bool]:
        """Hand over the event of a request from `address` refused for its credentials: written if it is the first
        of its address and reason this minute, else only counted for the minute's summary (done at once)."""
        if self.refusals.admit(event, address):
            return self.submit([event.row()])
        counted: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        counted.set_result(True)
        return counted

    async def write(self, rows: list[dict[str, Any]]) -> bool:
        """Submit and wait; whether the rows are durable (False: spilled to the error log and counted)."""
        return await asyncio.shield(self.submit(rows))

    async def _drain(self) -> None:
        batch: list[tuple[list[dict[str, Any]], asyncio.Future[bool], float]] = []
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                alone = len(batch) == 1
                stored = await self._commit([row for rows, _, _ in batch for row in rows], spill=alone, inline=alone)
                if self.metrics:  # audit lag: from the oldest hand-over in the batch to its commit
                    self.metrics.audit_lag.observe(time.perf_counter() - batch[0][2])
                for rows, done, _ in batch:
                    # alone: a row the store refuses fails only its own call
                    ok = stored or (not alone and await self._commit(rows, retries=0))
                    if not done.done():
                        done.set_result(ok)
        finally:  # a bug or a cancellation here must never leave a call waiting forever on its records
            for rows, done, _ in [*batch, *self._pending]:
                if not done.done():
                    self._spill(rows, RuntimeError("the audit writer stopped"))
                    done.set_result(False)
            self._pending = []

    async def _commit(
        self, rows: list[dict[str, Any]], retries: int | None = None, spill: bool = True, inline: bool = False
    ) -> bool:
        """Append `rows` in one transaction, retrying connection failures; False (and spilled, if `spill`)
        when they cannot be stored. `inline`: on SQLite, on the event loop if the store is free (a batch of one
        call's rows: under load, batches go to the writer's thread, where the next batch gathers meanwhile)."""
        retries = self.retries if retries is None else retries
        for attempt in range(retries + 1):
            try:
                if self.db.file_replaced():
                    raise OSError("the SQLite store's file was deleted or replaced under the gateway")
                await self._store(rows, inline)
                return True
            except (SQLAlchemyError, OSError) as exc:  # the store, the driver, the network or the disk
                await self._drop_connection()
                if attempt == retries or isinstance(exc, TimeoutError):  # a timeout spent the whole budget
                    if spill:
                        self._spill(rows, exc)
                    return False
                await asyncio.sleep(0.05 * 2**attempt)
            except Exception as exc:  # a bug (an event that cannot be hashed): no retry helps, never lose it
                log.exception("audit: appending events failed")
                await self._drop_connection()
                if spill:
                    self._spill(rows, exc)
                return False
        return False

    async def _store(self, rows: list[dict[str, Any]], inline: bool = False) -> None:
        def append(conn: Connection) -> None:
            before, frontier = tree.append(conn, rows, self.signer)
            if self.signer and frontier.size // self.checkpoint_every > before // self.checkpoint_every:
                tree.store_checkpoint(conn, self.signer, frontier)

        if self.db.sqlite_file is not None:
            if self._sqlite is None:
                self._sqlite = SqliteThread(self.db.sqlite_file)
            await self._sqlite.run(append, inline)
            return
        async with self.db.deadline():
            if self._conn is None:
                self._conn = await self.db.engine.connect()
            async with self._conn.begin():
                await self._conn.run_sync(append)

    def _spill(self, rows: list[dict[str, Any]], exc: Exception) -> None:
        if self.metrics:
            self.metrics.audit_failures.inc(len(rows))
        for row in rows:
            log.error("audit record not stored (%s): %s", type(exc).__name__, json.dumps(row, default=str))

    async def _drop_connection(self) -> None:
        if self._sqlite is not None:
            await self._sqlite.drop()
        if self._conn is not None:  # after a failure: dropped without a word to a store that may not answer
            conn, self._conn = self._conn, None
            with contextlib.suppress(SQLAlchemyError, OSError):
                await conn.invalidate()
                await conn.close()

    async def checkpoint(self) -> int | None:
        """Sign a checkpoint of the log as it stands, unless one of that size exists; its size, or None."""
        if self.signer is None:
            return None
        signer = self.signer
        async with self.db.deadline(), self.db.engine.begin() as conn:
            return await conn.run_sync(lambda sync: tree.checkpoint_if_new(sync, signer))

    async def _checkpoint_timer(self) -> None:
        while True:
            await self.clock.sleep(self.checkpoint_interval_s)
            try:
                await self.checkpoint()
            except SQLAlchemyError as exc:  # the next tick tries again; events are safe in the meantime
                log.warning("audit: writing a checkpoint failed: %s", exc)

    async def _summary_timer(self) -> None:
        """Write the summaries of refused requests not written one by one, as each minute ends."""
        while True:
            await self.clock.sleep(self.refusals.window_s / 4)
            summaries = self.refusals.take()
            if summaries:
                await self.write([event.row() for event in summaries])

    async def aclose(self) -> None:
        """Write what is left of the refusal summaries, wait for rows already handed over (called at shutdown),
        sign a last checkpoint, release the writer's connection."""
        for task in (self._timer, self._summaries, self._anchor):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        summaries = self.refusals.take(everything=True)
        if summaries:
            await self.write([event.row() for event in summaries])
        if self._writer is not None:
            await self._writer
        await self._drop_connection()
        try:
            await self.checkpoint()
        except (SQLAlchemyError, OSError) as exc:  # a store that stopped answering times out (OSError)
            log.warning("audit: the checkpoint at shutdown failed: %s", exc)
        if self.anchoring is not None:  # the last checkpoint too, if the anchors answer at once
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.anchoring.once(), 5)
            await self.anchoring.aclose()
        if self._sqlite is not None:
            await self._sqlite.aclose()

    async def read(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        filters: Filters | None = None,
        where: ColumnElement[bool] | None = None,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Events in log order (their sequence numbers), streamed: never all in memory."""
        filters = filters or Filters(since, until)
        columns = [getattr(AuditEventRow, name) for name in STORED_FIELDS]
        query = filters.apply(select(*columns)).order_by(AuditEventRow.seq, AuditEventRow.id)
        if where is not None:
            query = query.where(where)
        async with self.db.engine.connect() as conn:
            result = await conn.stream(query.execution_options(yield_per=1000))
            async for row in result.mappings():
                yield as_dict(row)


def as_dict(row: Any) -> dict[str, Any]:
    out = {name: row[name] for name in STORED_FIELDS}
    ts = out["ts"]
    out["ts"] = (ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)).isoformat()
    return out
