"""The SQLite writer's transactions: inline on the event loop when the store is free, on its thread when not."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection

from gateway.store import sqlite_thread
from gateway.store.sqlite_thread import SqliteThread


@pytest.fixture(autouse=True)
def idle_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_thread, "IDLE_S", -1.0)  # every free store counts as idle (tested apart below)


@pytest.fixture
async def writer(tmp_path: Path):
    file = tmp_path / "store.db"
    with sqlite3.connect(file) as conn:  # as migrated: in WAL mode
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (x INTEGER)")
    thread = SqliteThread(file)
    yield thread
    await thread.aclose()


def insert(value: int):
    def work(conn: Connection) -> int:
        conn.exec_driver_sql(f"INSERT INTO t VALUES ({value})")
        return threading.get_ident()

    return work


def rows(file: Path) -> list[int]:
    with sqlite3.connect(file) as conn:
        return [x for (x,) in conn.execute("SELECT x FROM t ORDER BY x")]


async def test_a_free_store_commits_inline_on_the_event_loop(writer: SqliteThread, tmp_path: Path):
    assert await writer.run(insert(1)) == threading.get_ident()
    assert await writer.run(insert(2), inline=False) != threading.get_ident()  # asked for the thread
    assert rows(tmp_path / "store.db") == [1, 2]


async def test_a_locked_store_goes_to_the_thread_which_waits_its_turn(writer: SqliteThread, tmp_path: Path):
    other = sqlite3.connect(tmp_path / "store.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    other.execute("INSERT INTO t VALUES (1)")
    asyncio.get_running_loop().call_later(0.2, other.execute, "COMMIT")
    assert await writer.run(insert(2)) != threading.get_ident()  # the loop never waited on the lock
    other.close()
    assert await writer.run(insert(3)) == threading.get_ident()  # free again: inline
    assert rows(tmp_path / "store.db") == [1, 2, 3]


async def test_a_failed_transaction_rolls_back_and_the_next_one_works(writer: SqliteThread, tmp_path: Path):
    def fails(conn: Connection) -> None:
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await writer.run(fails)
    await writer.run(insert(2))
    assert rows(tmp_path / "store.db") == [2]


async def test_no_inline_transaction_while_one_is_on_the_thread(writer: SqliteThread, tmp_path: Path):
    started, release = threading.Event(), threading.Event()

    def slow(conn: Connection) -> int:
        started.set()
        release.wait(5)
        return insert(1)(conn)

    on_thread = asyncio.ensure_future(writer.run(slow, inline=False))
    await asyncio.to_thread(started.wait, 5)
    second = asyncio.ensure_future(writer.run(insert(2)))  # the connection is busy on the thread: queued there
    await asyncio.sleep(0.05)
    assert not second.done()
    release.set()
    assert {await on_thread, await second} != {threading.get_ident()}
    assert rows(tmp_path / "store.db") == [1, 2]


async def test_the_log_is_checkpointed_off_the_commit_path_and_stays_bounded(
    writer: SqliteThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(sqlite_thread, "CHECKPOINT_EVERY", 8)
    monkeypatch.setattr(sqlite_thread, "RESTART_PAST", 0)  # restart the log at every checkpoint
    for value in range(400):
        await writer.run(insert(value))
        if writer._checkpoint is not None:
            await asyncio.wrap_future(writer._checkpoint)
    driver = writer._conn.connection.driver_connection  # type: ignore[union-attr]
    assert driver.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)  # never inside a commit
    assert (tmp_path / "store.db-wal").stat().st_size < 20 * 4096  # restarted: ~8 commits of frames at most
    assert rows(tmp_path / "store.db") == list(range(400))


async def test_a_store_busy_a_moment_ago_keeps_its_thread(writer: SqliteThread, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sqlite_thread, "IDLE_S", 60.0)  # under load: the next batch gathers while one commits
    await writer.run(insert(1), inline=False)
    assert await writer.run(insert(2)) != threading.get_ident()
