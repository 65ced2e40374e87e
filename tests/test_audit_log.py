"""The audit writer: group commit under concurrency, and nothing silently lost when the store fails."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time

from gateway.audit.journal import Journal
from gateway.audit.records import AuditLog
from gateway.metrics import Metrics
from gateway.model import Origin
from gateway.store.db import Database


def rejected(n: int) -> list[dict]:
    journal = Journal(Origin(surface="openai", request_id=f"r{n}"))
    journal.failed("invalid_api_key", "missing agent key")
    return [event.row() for event in journal.close(None, None)]


async def test_concurrent_writes_all_land_in_few_transactions(database_url):
    db = Database(database_url)
    await db.migrate()
    log = AuditLog(db)
    commits = 0
    original = log._commit

    async def counting(rows, **options):
        nonlocal commits
        commits += 1
        return await original(rows, **options)

    log._commit = counting
    try:
        await asyncio.gather(*(log.write(rejected(i)) for i in range(50)))
        rows = [row async for row in log.read()]
    finally:
        await log.aclose()
        await db.aclose()
    assert sorted(r["request_id"] for r in rows) == sorted(f"r{i}" for i in range(50))
    assert commits < 50


async def test_rows_the_store_refuses_go_to_the_error_log_and_a_metric(sqlite_url, caplog):
    db = Database(sqlite_url)  # never migrated: the table does not exist
    metrics = Metrics()
    log = AuditLog(db, metrics, retries=1)
    try:
        with caplog.at_level(logging.ERROR, logger="gateway.audit"):
            await log.write(rejected(7))
    finally:
        await log.aclose()
        await db.aclose()
    assert metrics.audit_failures._value.get() == 1
    assert '"request_id": "r7"' in caplog.text and "audit record not stored" in caplog.text


def test_replicas_starting_together_migrate_without_tripping_over_each_other(database_url):
    """Three processes migrate one fresh database at once, as replicas starting together do."""
    # each process imports first, then all start migrating at the same moment
    code = (
        "import sys, time; from gateway.store.db import upgrade; "
        "time.sleep(max(0, float(sys.argv[2]) - time.time())); upgrade(sys.argv[1])"
    )
    start = str(time.time() + 4)
    procs = [
        subprocess.Popen([sys.executable, "-c", code, database_url, start], stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors

    async def ready() -> bool:
        db = Database(database_url)
        try:
            return await db.ping() and [row async for row in AuditLog(db).read()] == []
        finally:
            await db.aclose()

    assert asyncio.run(ready())


async def test_a_locked_sqlite_store_is_retried_not_spilled(sqlite_url, monkeypatch):
    """The SQLite writer runs its statements on the driver's cursor: a driver error ("database is locked", past
    busy_timeout) is still the store failing, retried like any other, not a bug that spills the rows."""
    import sqlite3

    from gateway.store.prepared import Prepared

    db = Database(sqlite_url)
    await db.migrate()
    metrics = Metrics()
    log = AuditLog(db, metrics, retries=2)
    real, failures = Prepared.execute, []

    def locked_once(self, cursor, values=None):
        if not failures:
            failures.append(True)
            raise sqlite3.OperationalError("database is locked")
        return real(self, cursor, values)

    monkeypatch.setattr(Prepared, "execute", locked_once)
    try:
        assert await log.write(rejected(3)) is True
        rows = [row async for row in log.read()]
    finally:
        await log.aclose()
        await db.aclose()
    assert failures == [True]
    assert [r["request_id"] for r in rows] == ["r3"]
    assert metrics.audit_failures._value.get() == 0
