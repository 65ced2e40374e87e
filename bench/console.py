"""The activity console's searches (`gateway.audit.search`) on a large audit log, SQLite and PostgreSQL.

    .venv/bin/python bench/console.py [--events 100000] [--postgres URL]

Fills a fresh store with `--events` events straight through INSERT (the writer would take minutes; the search
reads only the columns, so no tree is needed): 40 agents in 8 teams, a mix of outcomes, a PII finding on one in
ten, a tool call on one in twenty; three events a call. Then times each search as the median of 5 runs: a page of
50 events (`search`), and a page of 50 calls with all their events (`search_calls`, what `/ui/activity` shows).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, text  # noqa: E402

from gateway.audit.events import AuditEvent  # noqa: E402
from gateway.audit.search import Search, search, search_calls  # noqa: E402
from gateway.store.db import Database  # noqa: E402
from gateway.store.tables import AuditEventRow  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PII = ["EMAIL_ADDRESS", "PERSON", "PHONE_NUMBER", "IBAN_CODE", "US_SSN"]


def row(i: int) -> dict[str, Any]:
    event = ["decision", "decision", "decision", "outcome", "held", "redacted"][i % 6]
    values: dict[str, Any] = {
        "event": event,
        "decision_id": f"d{i:031d}",
        "call_id": f"c{i // 3:031d}",
        "request_id": f"r{i // 3}",
        "ts": T0 + timedelta(seconds=i),
        "agent": f"agent-{i % 40}",
        "team": f"team-{i % 8}",
        "surface": "openai",
        "target": ["gpt", "claude", "embed"][i % 3],
        "allow": i % 7 != 0,
        "reasons": [] if i % 7 else [f"tool 'send_wire' is on the risky tools list ({i % 13})"],
        "error_code": "upstream_error" if event == "outcome" and i % 5 == 0 else None,
        "pii": [{"type": PII[i // 10 % 5], "where": ["messages"], "count": 1}] if i % 10 == 0 else [],
        "tool_calls": ["send_wire"] if i % 20 == 0 else [],
        "input_tokens": 120,
        "output_tokens": 40,
        "total_ms": 12.5,
    }
    return {**AuditEvent.model_validate(values).row(), "seq": i, "leaf_hash": "0" * 64}


async def fill(db: Database, n: int) -> None:
    async with db.engine.begin() as conn:
        for start in range(0, n, 5000):
            await conn.execute(insert(AuditEventRow), [row(i) for i in range(start, min(n, start + 5000))])
        if db.engine.dialect.name == "postgresql":
            await conn.execute(text("ANALYZE audit_events"))


SEARCHES: list[tuple[str, Search, int | None]] = [
    ("newest page, no filter", Search(), None),
    ("agent", Search(agent="agent-7"), None),
    ("team + outcome denied", Search(team="team-3", outcome="denied"), None),
    ("agent + outcome failed", Search(agent="agent-5", outcome="failed"), None),
    ("PII type (1 in 50 events)", Search(pii="US_SSN"), None),
    ("tool name", Search(tool="send_wire"), None),
    ("reason text", Search(reason="risky tools list (12)"), None),
    ("request id", Search(request_id="r1234"), None),
    ("time range (1 hour)", Search(since=T0 + timedelta(hours=10), until=T0 + timedelta(hours=11)), None),
    ("agent, deep page (keyset)", Search(agent="agent-7"), 1000),
    ("no match (agent + PII)", Search(agent="agent-1", pii="US_SSN"), None),
    ("no match (PII type, full scan)", Search(pii="CREDIT_CARD"), None),
]


async def bench(url: str, n: int) -> None:
    db = Database(url)
    await db.migrate()
    try:
        started = time.perf_counter()
        await fill(db, n)
        print(f"{db.engine.dialect.name}: {n} events written in {time.perf_counter() - started:.1f} s")
        print(f"  {'search':<30} {'events':>8}  {'calls':>8}")
        for name, filters, before in SEARCHES:
            times, found, call_times, calls = [], 0, [], 0
            for _ in range(5):
                t = time.perf_counter()
                found = len(await search(db, filters, limit=50, before=before))
                times.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                calls = len(await search_calls(db, filters, limit=50, before=before))
                call_times.append((time.perf_counter() - t) * 1000)
            events, pages = statistics.median(times), statistics.median(call_times)
            print(f"  {name:<30} {events:8.1f} ms {pages:8.1f} ms  ({found} events, {calls} calls)")
    finally:
        await db.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--postgres", help="a PostgreSQL URL whose database may be filled (it is not emptied)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(bench(f"sqlite+aiosqlite:///{folder}/bench.db", args.events))
    if args.postgres:
        asyncio.run(bench(args.postgres, args.events))


if __name__ == "__main__":
    main()
