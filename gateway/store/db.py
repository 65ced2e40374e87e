"""The database: an async SQLAlchemy engine, brought to the newest schema by Alembic at start."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from gateway.errors import ConfigError

MIGRATIONS = Path(__file__).parent / "migrations"


class Database:
    """Engine plus session factory.

    >>> db = Database("sqlite+aiosqlite:///./gateway.db")  # doctest: +SKIP
    >>> await db.migrate()  # doctest: +SKIP
    """

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url
        self.timeout_s = timeout_s
        sqlite = url.startswith("sqlite")
        try:
            self.engine: AsyncEngine = create_async_engine(url, pool_pre_ping=not sqlite, **_bounded(url, timeout_s))
        except (SQLAlchemyError, ValueError, ImportError) as exc:
            raise ConfigError(f"database_url {url!r} is not usable: {exc}") from exc
        if sqlite:
            event.listen(self.engine.sync_engine, "connect", sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        database = make_url(url).database if sqlite else None
        self._sqlite_file = Path(database) if database and database != ":memory:" else None
        self._sqlite_inode: int | None = None

    async def migrate(self) -> None:
        """Upgrade to the newest schema (Alembic runs its own event loop, so it runs in a thread)."""
        await asyncio.to_thread(upgrade, self.url)
        if self._sqlite_file is not None:
            self._sqlite_inode = _inode(self._sqlite_file)

    def deadline(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """A bound on one store operation on PostgreSQL: past `timeout_s` it is cancelled and TimeoutError (an
        OSError, which store callers map to 503 store_unavailable) raised. Each of the driver's own steps (a
        pre-ping, a reconnect, the statement, the rollback) is bounded too, but together they could add up."""
        if self.url.startswith("postgresql"):
            return asyncio.timeout(self.timeout_s)
        return contextlib.nullcontext()

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
            return True
        except (SQLAlchemyError, OSError):
            return False

    @property
    def sqlite_file(self) -> Path | None:
        """The SQLite store's file; None for PostgreSQL or an in-memory database."""
        return self._sqlite_file

    def file_replaced(self) -> bool:
        """A SQLite store whose file was deleted or replaced since the start: writes would land in an unlinked
        inode, recorded nowhere (the audit writer refuses to commit then). Always False for PostgreSQL."""
        if self._sqlite_file is None:
            return False
        if self._sqlite_inode is None:  # not migrated by this process: the file as first seen is the baseline
            self._sqlite_inode = _inode(self._sqlite_file)
        return _inode(self._sqlite_file) != self._sqlite_inode

    async def writable(self) -> bool:
        """Whether the store can take writes now (readiness): a reachable database is not enough. PostgreSQL
        must not be read-only; a SQLite file must still be the file the gateway opened (a deleted or replaced
        file keeps taking writes into an unlinked inode, recorded nowhere) and must take a write lock."""
        try:
            if self.file_replaced():
                return False
            async with self.engine.connect() as conn:
                if self._sqlite_file is None:
                    result = await conn.exec_driver_sql("SHOW transaction_read_only")
                    return bool(result.scalar() == "off")
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
                await conn.exec_driver_sql("ROLLBACK")
            return True
        except (SQLAlchemyError, OSError):
            return False

    async def aclose(self) -> None:
        """Close the pool; a store that stopped answering is given up on after the timeout."""
        try:
            await asyncio.wait_for(self.engine.dispose(), self.timeout_s)
        except TimeoutError:
            await self.engine.dispose(close=False)


def _bounded(url: str, timeout_s: float) -> dict[str, Any]:
    """Timeouts for PostgreSQL: asyncpg's connect and per-command timeouts, the server's statement_timeout, and
    the wait for a pooled connection. A blackholed link then fails within `timeout_s` (as TimeoutError, an
    OSError, which every store caller maps to 503 store_unavailable) instead of waiting out the outage."""
    if not url.startswith("postgresql"):
        return {}
    statement_ms = str(int(timeout_s * 1000))
    connect_args = {
        "timeout": timeout_s / 2,
        "command_timeout": timeout_s / 2,
        "server_settings": {"statement_timeout": statement_ms, "lock_timeout": statement_ms},
    }
    return {"connect_args": connect_args, "pool_timeout": timeout_s}


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


BUSY_TIMEOUT_MS = 10_000  # how long a SQLite connection waits for another's write lock


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets exports read while the gateway writes; busy_timeout makes other processes wait, not fail."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = url
    return config


_ALEMBIC = threading.Lock()  # Alembic keeps module-level state: one migration at a time in a process


def upgrade(url: str) -> None:
    """Bring the database to the newest schema. Processes starting together take turns: PostgreSQL through an
    advisory lock (in migrations/env.py), a SQLite file through a lock file beside it."""
    try:
        with _ALEMBIC, _sqlite_file_lock(url):
            command.upgrade(alembic_config(url), "head")
    except (SQLAlchemyError, OSError) as exc:
        raise ConfigError(f"cannot migrate database {url!r}: {exc}") from exc


@contextmanager
def _sqlite_file_lock(url: str) -> Iterator[None]:
    database = make_url(url).database if url.startswith("sqlite") else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
