"""`gateway audit verify` catches every way of changing stored rows, on SQLite and PostgreSQL, and names the
first bad event."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text

from gateway.audit.leaf import event_leaf
from gateway.audit.records import AuditLog
from gateway.audit.verify import Report, verify_store
from gateway.store.db import Database
from tests.audit.helpers import cli, fill, verifier, with_database

N = 30  # checkpoints at 8, 16, 24 (every 8) and 30 (at shutdown)


@pytest.fixture
def log_url(database_url: str) -> str:
    asyncio.run(fill(database_url, N))
    return database_url


def sql(url: str, *statements: str, **params: Any) -> None:
    async def run(db: Database) -> None:
        async with db.engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement), params)

    with_database(url, run)


def rows(url: str) -> list[dict[str, Any]]:
    async def run(db: Database) -> list[dict[str, Any]]:
        return [row async for row in AuditLog(db).read()]

    return with_database(url, run)


def check(url: str) -> Report:
    return with_database(url, lambda db: verify_store(db, verifier(url)))


def test_an_untouched_log_verifies_and_a_changed_one_fails_from_the_cli(log_url, tmp_path):
    result = cli(tmp_path, log_url, "audit", "verify")
    assert result.returncode == 0 and result.stdout.startswith(f"ok: {N} events"), result.stdout + result.stderr
    report = check(log_url)
    assert report.ok, report.problem
    assert report.events == N and report.signed == N and len(report.checkpoints) == 4
    sql(log_url, "DELETE FROM audit_events WHERE seq = 7")
    result = cli(tmp_path, log_url, "audit", "verify")
    assert result.returncode == 1 and "event seq 7 is missing" in result.stdout


def test_an_edited_row_is_named(log_url):
    victim = rows(log_url)[5]
    sql(log_url, "UPDATE audit_events SET agent = 'mallory' WHERE seq = 5")
    report = check(log_url)
    assert not report.ok and f"seq 5 ({victim['decision_id']})" in report.problem and "edited" in report.problem


def test_a_flipped_decision_is_named(log_url):
    sql(log_url, "UPDATE audit_events SET allow = NOT allow WHERE seq = 12")
    assert "event seq 12 (" in (check(log_url).problem or "")


def test_an_edit_that_rewrites_the_leaf_hash_is_caught_by_the_checkpoint(log_url):
    victim = rows(log_url)[10]
    victim["reasons"] = ["nothing to see"]
    sql(
        log_url,
        "UPDATE audit_events SET reasons = :r, leaf_hash = :h WHERE seq = 10",
        r='["nothing to see"]',
        h=event_leaf(victim, 10).hex(),
    )
    problem = check(log_url).problem or ""
    assert "checkpoint at size 16 does not match" in problem and "seq 8 to 15" in problem


def test_a_deleted_row_is_named(log_url):
    after = rows(log_url)[6]
    sql(log_url, "DELETE FROM audit_events WHERE seq = 5")
    problem = check(log_url).problem or ""
    assert "event seq 5 is missing" in problem and after["decision_id"] in problem


def test_an_inserted_row_is_named(log_url):
    sql(
        log_url,
        "INSERT INTO audit_events (decision_id, call_id, request_id, ts, surface, kind, phase, allow, reasons,"
        " fail_open, attempts, tool_calls, latency_ms, total_ms, event, pii)"
        " SELECT 'forged', call_id, request_id, ts, surface, kind, phase, allow, reasons, fail_open, attempts,"
        " tool_calls, latency_ms, total_ms, event, pii FROM audit_events WHERE seq = 3",
    )
    assert "event forged has no sequence number" in (check(log_url).problem or "")


def test_a_row_appended_behind_the_writers_back_is_named(log_url):
    forged = {**rows(log_url)[3], "decision_id": "forged"}
    sql(
        log_url,
        "INSERT INTO audit_events (decision_id, call_id, request_id, ts, surface, kind, phase, allow, reasons,"
        " fail_open, attempts, tool_calls, latency_ms, total_ms, event, pii, seq, leaf_hash)"
        " SELECT 'forged', call_id, request_id, ts, surface, kind, phase, allow, reasons, fail_open, attempts,"
        f" tool_calls, latency_ms, total_ms, event, pii, {N}, :h FROM audit_events WHERE seq = 3",
        h=event_leaf(forged, N).hex(),
    )
    assert f"event seq {N} is beyond the log's head" in (check(log_url).problem or "")


def test_reordered_rows_are_named(log_url):
    first = rows(log_url)[4]
    sql(
        log_url,
        "UPDATE audit_events SET seq = -1 WHERE seq = 3",
        "UPDATE audit_events SET seq = 3 WHERE seq = 4",
        "UPDATE audit_events SET seq = 4 WHERE seq = -1",
    )
    problem = check(log_url).problem or ""
    assert f"event seq 3 ({first['decision_id']})" in problem


def test_truncation_behind_the_last_checkpoint_is_caught(log_url):
    sql(log_url, "DELETE FROM audit_events WHERE seq >= 20")
    problem = check(log_url).problem or ""
    assert "truncated" in problem and "seq 20 to 29" in problem


def test_a_forged_checkpoint_is_refused(log_url):
    sql(log_url, "UPDATE audit_checkpoints SET note = replace(note, '\n16\n', '\n17\n') WHERE tree_size = 16")
    assert "no valid signature" in (check(log_url).problem or "")


def test_timestamps_and_floats_hash_the_same_once_stored(log_url):
    """What each driver hands back (naive or zoned times, floats) gives the bytes the writer hashed."""
    for row in rows(log_url):
        assert event_leaf(row, row["seq"]).hex() == row["leaf_hash"]
