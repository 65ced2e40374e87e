"""A synchronous connection to the SQLite store, used inline when the store is free and on a thread of its own
when it is not, for the audit writer and the limits ledger.

Through aiosqlite every statement is a hop to its worker thread and back (with SQLAlchemy's async layer
around each); a batch of the audit log (lock the head, insert, update the head, commit) is five. Here the
whole transaction is at most one hop: the event loop hands a function over and gets the result back.

And none when the store is idle. A transaction of this writer is a fraction of a millisecond of CPU (WAL,
`synchronous=NORMAL`: no fsync at commit); at low load the hop around it cost about as much again (a thread
woken, the GIL handed over and back, the loop woken by the result). So when no transaction of this writer is on
its thread and none ended in the last `IDLE_S`, `run` first takes SQLite's write lock on the event loop without
waiting (`BEGIN IMMEDIATE` with no busy timeout): if it gets the lock, the whole transaction runs there, inline,
and cannot find the store busy half-way. Under load the thread stays: while one batch commits there, the next
gathers (group commit), and a commit's fixed cost (a signature, the head row, ~14 pages of log) is shared. If
another connection holds the lock (another process, the async engine), nothing of the work has run, and it goes
to the thread, which waits its turn (`busy_timeout`) as before, so the event loop never waits on a lock.

Nor on a checkpoint. SQLite copies its write-ahead log back into the database file when a commit takes the log
past 1,000 pages (`wal_autocheckpoint`), inside that commit: ~6 ms, with two fsyncs, every ~70 calls at
concurrency 1. This connection turns that off, and every `CHECKPOINT_EVERY` commits a connection of its own on a
thread of its own runs the checkpoint (PASSIVE: it never blocks a writer) while the writer goes on. A log that
such checkpoints never catch up with (writes without a pause) is restarted once past `RESTART_PAST` pages: writers
wait for that one, on the writer's thread.

    >>> writer = SqliteThread(Path("gateway.db"))  # doctest: +SKIP
    >>> await writer.run(lambda conn: conn.execute(...))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.exc import OperationalError

from gateway.store.db import BUSY_TIMEOUT_MS, sqlite_pragmas

T = TypeVar("T")
CHECKPOINT_EVERY = 64  # commits between two checkpoints (a commit of one call's events adds ~14 pages)
IDLE_S = 0.001  # no commit for this long: the store is idle, and a transaction may run inline
RESTART_PAST = 4000  # pages: a log this long is restarted (writers wait for that checkpoint, the event loop never)

log = logging.getLogger("gateway.store")


class SqliteThread:
    def __init__(self, file: Path, inline: bool = True) -> None:
        self.file = file
        self.engine = create_engine(f"sqlite:///{file}")  # a file: SQLAlchemy lets any thread use the connection
        event.listen(self.engine, "connect", sqlite_pragmas)
        self.inline = inline  # False: every transaction on the thread (the way to compare the two)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._conn: Connection | None = None  # used by one thread at a time: the loop only when `_hops` is 0
        self._hops = 0  # work handed to the thread and not yet back
        self._ended = 0.0  # when the last transaction ended (time.perf_counter)
        self._waits = True  # the connection's busy_timeout is BUSY_TIMEOUT_MS (False: 0, for the inline attempt)
        self._checkpoints = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-checkpoint")
        self._checkpoint_conn: sqlite3.Connection | None = None  # used on the checkpoint thread only
        self._checkpoint: Future[None] | None = None
        self._commits = 0  # since the last checkpoint was started

    async def run(self, work: Callable[[Connection], T], inline: bool = True) -> T:
        """Run `work` in one transaction, inline if the store is free (and `inline`), else on the thread; an error
        rolls it back and drops the connection."""
        if inline and self.inline and not self._hops and time.perf_counter() - self._ended > IDLE_S:
            conn = self._locked()
            if conn is not None:
                return self._finish(conn, work)
        return await self._hop(self._transaction, work)

    async def _hop(self, fn: Callable[..., T], *args: object) -> T:
        self._hops += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)
        finally:
            self._hops -= 1
            self._ended = time.perf_counter()

    def _locked(self) -> Connection | None:
        """The connection in a transaction that holds SQLite's write lock, taken without waiting; None when another
        connection holds the lock, or when connecting failed (the thread's attempt then reports it)."""
        try:
            conn = self._connect(waits=False)
        except (OperationalError, sqlite3.Error):
            self._drop()
            return None
        conn.begin()
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except (OperationalError, sqlite3.Error):
            conn.rollback()
            return None
        return conn

    def _transaction(self, work: Callable[[Connection], T]) -> T:
        conn = self._connect(waits=True)
        conn.begin()
        return self._finish(conn, work)

    def _finish(self, conn: Connection, work: Callable[[Connection], T]) -> T:
        """Run `work` in the transaction `conn` has begun, and commit it."""
        try:
            result = work(conn)
            conn.commit()
            self._committed()
            self._ended = time.perf_counter()
            return result
        except BaseException as exc:
            with contextlib.suppress(Exception):
                conn.rollback()
            if not getattr(exc, "keep_connection", False):  # raised to roll back (`limits.ledger.Over`), not a fault
                self._drop()
            raise

    def _connect(self, waits: bool) -> Connection:
        """The connection, with the busy timeout `waits` asks for (pragmas go to the driver's connection: a
        statement through SQLAlchemy would begin its transaction)."""
        if self._conn is None:
            conn = self.engine.connect()
            conn.connection.driver_connection.execute("PRAGMA wal_autocheckpoint=0")  # type: ignore[union-attr]
            self._conn, self._waits = conn, True
        if waits != self._waits:
            driver = self._conn.connection.driver_connection
            driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS if waits else 0}")  # type: ignore[union-attr]
            self._waits = waits
        return self._conn

    def _committed(self) -> None:
        """Count a commit; every CHECKPOINT_EVERY, start a checkpoint on its thread (unless one is running)."""
        self._commits += 1
        if self._commits >= CHECKPOINT_EVERY and (self._checkpoint is None or self._checkpoint.done()):
            self._commits = 0
            with contextlib.suppress(RuntimeError):  # shutting down: SQLite checkpoints when it closes
                self._checkpoint = self._checkpoints.submit(self._run_checkpoint)

    def _run_checkpoint(self) -> None:
        try:
            if self._checkpoint_conn is None:
                self._checkpoint_conn = sqlite3.connect(self.file, timeout=BUSY_TIMEOUT_MS / 1000)
            _, pages, _ = self._checkpoint_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if pages > RESTART_PAST:  # never caught up with the writer: the log would only grow
                self._checkpoint_conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
        except sqlite3.Error as exc:  # the next one tries again; until then the log grows, nothing is lost
            log.warning("store: a checkpoint of the SQLite log failed: %s", exc)
            self._close_checkpointer()

    def _close_checkpointer(self) -> None:
        conn, self._checkpoint_conn = self._checkpoint_conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    async def drop(self) -> None:
        """Close the connection (the next `run` opens a new one)."""
        await self._hop(self._drop)

    async def aclose(self) -> None:
        await self.drop()
        self._thread.shutdown(wait=True)
        await asyncio.get_running_loop().run_in_executor(self._checkpoints, self._close_checkpointer)
        self._checkpoints.shutdown(wait=True)
        self.engine.dispose()
