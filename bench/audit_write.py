"""Audit write throughput and added latency, with and without the Merkle tree, on SQLite and PostgreSQL.

    .venv/bin/python bench/audit_write.py [--events 2000] [--concurrency 1 16] [--postgres URL]

"with tree" is the gateway's writer (sequence under the head lock, canonical JSON, leaf and frontier
hashes, a signed checkpoint every 1000 events); "without" is a plain group-committed INSERT of the same
rows, as before the tree. Latency is a call's wait for its event to be durable (what a response waits for).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert  # noqa: E402

from gateway.audit.journal import Journal  # noqa: E402
from gateway.audit.records import AuditLog  # noqa: E402
from gateway.model import Origin  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from gateway.store.db import Database  # noqa: E402
from gateway.store.tables import AuditEventRow  # noqa: E402


def event(i: int) -> dict[str, Any]:
    journal = Journal(Origin(surface="openai", request_id=f"r{i}"))
    journal.failed("invalid_api_key", "missing agent key")
    journal.stages.update({"authenticate": 0.12, "decide": 0.61, "forward": 12.5})
    return journal.close(None, None)[0].row()


class PlainLog(AuditLog):
    """The writer as it was before the tree: one INSERT per batch."""

    async def _store(self, rows: list[dict[str, Any]]) -> None:
        if self._conn is None:
            self._conn = await self.db.engine.connect()
        async with self._conn.begin():
            await self._conn.execute(insert(AuditEventRow), rows)


async def run(url: str, tree: bool, events: int, concurrency: int) -> tuple[float, float, float]:
    db = Database(url)
    await db.migrate()
    settings = Settings.model_validate({"database_url": url, "audit": {"signing_key_env": "BENCH_AUDIT_KEY"}})
    log = AuditLog.from_settings(db, settings) if tree else PlainLog(db)
    waits: list[float] = []

    async def caller(worker: int) -> None:
        for i in range(worker, events, concurrency):
            row = event(i)
            started = time.perf_counter()
            await log.write([row])
            waits.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(caller(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - started
    await log.aclose()
    await db.aclose()
    waits.sort()
    return events / elapsed, statistics.median(waits) * 1000, waits[int(len(waits) * 0.99)] * 1000


async def reset_postgres(url: str) -> None:
    db = Database(url)
    async with db.engine.begin() as conn:  # a scratch database: every table goes
        tables = (await conn.exec_driver_sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).all()
        if tables:
            names = ", ".join(f'"{name}"' for (name,) in tables)
            await conn.exec_driver_sql(f"DROP TABLE {names} CASCADE")
    await db.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--postgres", default=os.environ.get("GATEWAY_BENCH_POSTGRES_URL"), help="a scratch database")
    args = parser.parse_args()
    os.environ.setdefault("BENCH_AUDIT_KEY", "YmVuY2gtYXVkaXQta2V5LWZvci1jaGVja3BvaW50cyE=")
    print(f"{'store':<10} {'tree':<5} {'conc':>4} {'events/s':>9} {'P50 ms':>7} {'P99 ms':>7}")
    for store in ["sqlite", "postgres"] if args.postgres else ["sqlite"]:
        for concurrency in args.concurrency:
            for tree in (False, True):
                if store == "sqlite":
                    with tempfile.TemporaryDirectory() as tmp:
                        rate, p50, p99 = await run(f"sqlite+aiosqlite:///{tmp}/b.db", tree, args.events, concurrency)
                else:
                    await reset_postgres(args.postgres)
                    rate, p50, p99 = await run(args.postgres, tree, args.events, concurrency)
                label = "yes" if tree else "no"
                print(f"{store:<10} {label:<5} {concurrency:>4} {rate:>9.0f} {p50:>7.2f} {p99:>7.2f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
