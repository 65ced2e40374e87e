"""Export: filters, bounded memory on a large log, the HTTP endpoint and its auth, concurrent writers."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tracemalloc
from pathlib import Path

import httpx
from sqlalchemy import text

from gateway.audit.export import chunks
from gateway.audit.records import AuditLog, Filters
from gateway.audit.verify import verify_store
from gateway.store.db import Database
from tests.audit.helpers import cli, events, fill, settings, verifier, with_database
from tests.conftest import create_key
from tests.helpers import audit_rows

MANY = 30_000  # 200,000 takes 75 s under tracemalloc; the peak does not grow with the count


def _insert_directly(path: Path, n: int) -> None:
    """A large log written straight into SQLite (the writer would take minutes): realistic rows, no tree."""
    row = {k: v for k, v in events(1)[0].items()}
    columns = [*row, "seq", "leaf_hash"]
    values = [json.dumps(v) if isinstance(v, list | dict) else v for v in row.values()]
    values[columns.index("ts")] = row["ts"].strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(path) as conn:
        statement = f"INSERT INTO audit_events ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        d = columns.index("decision_id")
        for start in range(0, n, 20_000):
            batch = []
            for seq in range(start, min(n, start + 20_000)):
                values[d] = f"d{seq:030d}"
                batch.append([*values, seq, "0" * 64])
            conn.executemany(statement, batch)


def test_a_large_export_streams_in_bounded_memory(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/big.db"
    with_database(url, lambda db: db.migrate())
    _insert_directly(tmp_path / "big.db", MANY)
    target = tmp_path / "out.jsonl"

    async def export(db: Database) -> int:
        written = 0
        with target.open("w") as out:
            async for chunk, n in chunks(AuditLog(db), Filters(), "jsonl"):
                out.write(chunk)
                written += n
        return written

    tracemalloc.start()
    try:
        written = with_database(url, export)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert written == MANY
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.1f} MiB"  # the whole export is ~22 MiB
    assert target.stat().st_size > 20 * 2**20


def test_export_filters_and_writes_a_file_with_a_progress_bar(database_url, tmp_path):
    async def write() -> None:
        db = Database(database_url)
        await db.migrate()
        log = AuditLog.from_settings(db, settings(database_url))
        try:
            await log.write(events(6, agent="a"))
            await log.write(events(4, agent="b", offset=6))
        finally:
            await log.aclose()
            await db.aclose()

    asyncio.run(write())
    rows = [json.loads(x) for x in cli(tmp_path, database_url, "audit", "export", "--agent", "b").stdout.splitlines()]
    assert [r["seq"] for r in rows] == [6, 7, 8, 9]
    denied = cli(tmp_path, database_url, "audit", "export", "--agent", "a", "--decision", "deny").stdout
    assert [json.loads(x)["seq"] for x in denied.splitlines()] == [1, 3, 5]
    result = cli(tmp_path, database_url, "audit", "export", "--format", "csv", "--out", str(tmp_path / "a.csv"))
    assert result.returncode == 0 and "12/12" in result.stderr  # the two exports before it are events too
    assert (tmp_path / "a.csv").read_text().splitlines()[0].endswith("seq,leaf_hash")


def test_two_writers_make_one_log(database_url):
    """Two audit logs (as two replicas) write at once; the sequence has no gap and the tree verifies."""

    async def run() -> None:
        dbs = [Database(database_url) for _ in range(2)]
        await dbs[0].migrate()
        logs = [AuditLog.from_settings(db, settings(database_url, every=16)) for db in dbs]
        try:
            writes = [logs[i % 2].write(events(1, offset=i)) for i in range(60)]
            await asyncio.gather(*writes)
        finally:
            for log, db in zip(logs, dbs, strict=True):
                await log.aclose()
                await db.aclose()

    asyncio.run(run())
    report = with_database(database_url, lambda db: verify_store(db, verifier(database_url)))
    assert report.ok and report.events == 60, report.problem


def _token(url: str, name: str, groups: list[str]) -> str:
    async def token(db: Database) -> str:
        from gateway.approvals.reviewers import ReviewerStore

        store = ReviewerStore(db)
        await store.add(name, groups)
        return await store.create_token(name)

    return with_database(url, token)


def test_the_http_export_streams_for_audit_readers_only_and_is_audited(gateway_factory, sqlite_url):
    audit = {"signing_key_env": "GATEWAY_TEST_AUDIT_KEY", "readers": ["audit"]}
    gw = gateway_factory(sqlite_url, audit=audit)
    asyncio.run(fill(sqlite_url, 5))
    reviewer = _token(sqlite_url, "alice", ["audit"])
    approver = _token(sqlite_url, "bob", ["finance"])
    url = f"{gw.url}/admin/api/audit/export"
    with httpx.Client(timeout=10) as client:
        assert client.get(url).json()["error"]["code"] == "unauthenticated"
        assert client.get(url, headers={"Authorization": "Bearer rvt_nope"}).status_code == 401
        agent = client.get(url, headers={"Authorization": f"Bearer {create_key(sqlite_url)}"})
        assert agent.status_code == 403 and agent.json()["error"]["code"] == "forbidden"
        auth = {"Authorization": f"Bearer {reviewer}"}
        assert client.get(url, params={"decision": "maybe"}, headers=auth).status_code == 400
        got = client.get(url, params={"decision": "allow"}, headers=auth)
        assert got.status_code == 200 and got.headers["content-type"].startswith("application/x-ndjson")
        assert [json.loads(x)["seq"] for x in got.text.splitlines()] == [0, 2, 4]
        csv = client.get(url, params={"format": "csv", "agent": "support-bot", "event": "decision"}, headers=auth)
        assert csv.text.splitlines()[0].startswith("ts,decision_id") and len(csv.text.splitlines()) == 6
        not_a_reader = client.get(url, headers={"Authorization": f"Bearer {approver}"})
        assert not_a_reader.status_code == 403 and "audit.readers" in not_a_reader.json()["error"]["message"]
    rows = audit_rows(sqlite_url, wait_for=0)
    exports = [r for r in rows if r["target"] == "audit.export"]
    assert [(r["actor"], r["reasons"][0], r["detail"]) for r in exports] == [
        ("alice", "audit log exported: 3 events", "filters: decision=allow"),
        ("alice", "audit log exported: 5 events", "filters: agent=support-bot, event=decision, format=csv"),
    ]
    assert any(r["event"] == "refused" and "bob is not an audit reader" in r["reasons"][0] for r in rows)


def test_the_http_export_takes_the_consoles_filters(gateway_factory, sqlite_url):
    gw = gateway_factory(sqlite_url, audit={"signing_key_env": "GATEWAY_TEST_AUDIT_KEY", "readers": ["audit"]})
    asyncio.run(fill(sqlite_url, 5))
    auth = {"Authorization": f"Bearer {_token(sqlite_url, 'alice', ['audit'])}"}
    url = f"{gw.url}/admin/api/audit/export"

    def seqs(**params: str) -> list[int]:
        got = httpx.get(url, params=params, headers=auth, timeout=10)
        assert got.status_code == 200, got.text
        return [json.loads(x)["seq"] for x in got.text.splitlines()]

    assert seqs(outcome="denied") == [1, 3]
    assert seqs(outcome="denied", request_id="r3") == [3]
    assert seqs(reason="MISSING AGENT", agent="support-bot") == [0, 1, 2, 3, 4]
    assert seqs(pii="PERSON") == []
    bad = httpx.get(url, params={"outcome": "sideways"}, headers=auth, timeout=10)
    assert bad.status_code == 400 and "outcome must be one of" in bad.json()["error"]["message"]
    exports = [r for r in audit_rows(sqlite_url) if r["target"] == "audit.export"]
    assert exports[1]["detail"] == "filters: outcome=denied, request_id=r3"


def test_bad_tokens_on_the_audit_export_are_limited_and_a_store_outage_is_a_503(gateway_factory, sqlite_url):
    gw = gateway_factory(sqlite_url, audit={"signing_key_env": "GATEWAY_TEST_AUDIT_KEY", "readers": ["audit"]})
    reviewer = _token(sqlite_url, "alice", ["audit"])
    url = f"{gw.url}/admin/api/audit/export"
    with httpx.Client(timeout=10) as client:
        statuses = [client.get(url, headers={"Authorization": "Bearer rvt_guess"}).status_code for _ in range(7)]
        assert statuses[:5] == [401] * 5 and statuses[-1] == 429
        ok = client.get(url, headers={"Authorization": f"Bearer {reviewer}"})
        assert ok.status_code == 200  # a good token is never locked out by others' bad ones
        with_database(sqlite_url, _drop_events)
        down = client.get(url, headers={"Authorization": f"Bearer {reviewer}"})
        assert down.status_code == 503 and down.headers["retry-after"] == "2"
        assert down.json()["error"]["code"] == "store_unavailable"


async def _drop_events(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE audit_events RENAME TO audit_events_gone"))


def test_reading_the_log_from_the_cli_is_recorded(sqlite_url, tmp_path):
    asyncio.run(fill(sqlite_url, 4))
    out = tmp_path / "out.jsonl"
    assert cli(tmp_path, sqlite_url, "audit", "export", "--agent", "support-bot", "--out", str(out)).returncode == 0
    decision_id = json.loads(out.read_text().splitlines()[0])["decision_id"]
    proved = cli(tmp_path, sqlite_url, "audit", "prove", decision_id, "--out", str(tmp_path / "proof.json"))
    assert proved.returncode == 0, proved.stderr
    reads = [r for r in audit_rows(sqlite_url) if r["kind"] == "read"]
    assert [(r["target"], r["reasons"][0]) for r in reads] == [
        ("audit.export", "audit log exported: 4 events"),
        ("audit.prove", f"inclusion proof of {decision_id}"),
    ]
    assert all(r["surface"] == "cli" and r["actor"].startswith("cli:") for r in reads)
    assert "agent=support-bot" in reads[0]["detail"]
    assert cli(tmp_path, sqlite_url, "audit", "verify").returncode == 0  # recorded inside the tree
