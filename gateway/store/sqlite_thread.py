"""A synchronous connection to the SQLite store on a thread of its own, for the audit writer.

Through aiosqlite every statement is a hop to its worker thread and back (with SQLAlchemy's async layer
around each); a batch of the audit log (lock the head, insert, update the head, commit) is five. Here the
whole transaction is one hop: the event loop hands a function over and gets the result back. Other
processes and the async engine's connections still take turns through SQLite's lock (`busy_timeout`).

    >>> writer = SqliteThread(Path("gateway.db"))  # doctest: +SKIP
    >>> await writer.run(lambda conn: conn.execute(...))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection, create_engine, event

from gateway.store.db import sqlite_pragmas

T = TypeVar("T")


class SqliteThread:
    def __init__(self, file: Path) -> None:
        self.engine = create_engine(f"sqlite:///{file}")
        event.listen(self.engine, "connect", sqlite_pragmas)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._conn: Connection | None = None  # opened, used and closed on the thread only

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in one transaction on the thread; an error rolls it back and drops the connection."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._transaction, work)

    def _transaction(self, work: Callable[[Connection], T]) -> T:
        if self._conn is None:
            self._conn = self.engine.connect()
        try:
            with self._conn.begin():
                return work(self._conn)
        except BaseException as exc:
            if not getattr(exc, "keep_connection", False):  # raised to roll back (`limits.ledger.Over`), not a fault
                self._drop()
            raise

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    async def drop(self) -> None:
        """Close the connection (the next `run` opens a new one)."""
        await asyncio.get_running_loop().run_in_executor(self._thread, self._drop)

    async def aclose(self) -> None:
        await self.drop()
        self._thread.shutdown(wait=True)
        self.engine.dispose()
