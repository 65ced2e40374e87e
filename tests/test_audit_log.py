"""The audit writer: group commit under concurrency, and nothing silently lost when the store fails."""

from __future__ import annotations

import asyncio
import logging

from gateway.audit.records import AuditLog, build_events
from gateway.metrics import Metrics
from gateway.model import Inbound, Trace
from gateway.store.db import Database


def rejected_trace(n: int) -> Trace:
    trace = Trace(inbound=Inbound(surface="openai", api_key=None, body=None, request_id=f"r{n}"))
    trace.error, trace.error_code = "missing agent key", "invalid_api_key"
    return trace


async def test_concurrent_writes_all_land_in_few_transactions(database_url):
    db = Database(database_url)
    await db.migrate()
    log = AuditLog(db)
    commits = 0
    original = log._commit

    async def counting(rows):
        nonlocal commits
        commits += 1
        await original(rows)

    log._commit = counting
    try:
        await asyncio.gather(*(log.write(build_events(rejected_trace(i))) for i in range(50)))
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
            await log.write(build_events(rejected_trace(7)))
    finally:
        await log.aclose()
        await db.aclose()
    assert metrics.audit_failures._value.get() == 1
    assert '"request_id": "r7"' in caplog.text and "audit record not stored" in caplog.text
