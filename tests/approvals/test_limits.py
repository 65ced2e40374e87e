"""Failure limits in the store: one count for every process, atomic under concurrent writers, and a flood of
other names or addresses never resets a count that matters."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select

from gateway.approvals.limits import FailureLimits, Limit
from gateway.clock import SYSTEM_CLOCK, FakeClock
from gateway.store.db import Database
from gateway.store.tables import AuthFailure
from tests.conftest import ROOT


async def _with_limits(url: str, work: Any, clock: FakeClock | None = None) -> Any:
    db = Database(url)
    await db.migrate()
    try:
        return await work(FailureLimits(db, clock=clock or SYSTEM_CLOCK), db)
    finally:
        await db.aclose()


async def _rows(db: Database) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(AuthFailure)) or 0)


async def test_a_flood_of_names_and_addresses_does_not_reset_a_count(database_url: str) -> None:
    """The in-memory table used to be cleared whole past 100,000 keys: flooding names reset everyone's count."""
    now = 1_000_040.0
    alice = Limit.named("signin", "alice", "203.0.113.5", 2)

    async def work(limits: FailureLimits, db: Database) -> None:
        assert [await limits.hit([alice]) for _ in range(2)] == [None, None]
        window = int(now // 60 * 60)
        flood = [
            {"scope": "signin", "subject": f"198.51.{i // 256 % 256}.{i % 256} {i:032x}", "window_start": window}
            for i in range(100_001)
        ]
        async with db.sessions.begin() as session:  # what 100,001 failed names from many addresses leave behind
            await session.execute(insert(AuthFailure), [row | {"failures": 1} for row in flood])
        for i in range(50):  # and more of them, through the limiter itself
            await limits.hit([Limit.named("signin", f"name{i}", f"192.0.2.{i}", 2)])
        assert await limits.hit([alice]) == 40  # still locked, until the window's end
        assert await _rows(db) == 100_001 + 50 + 1

    await _with_limits(database_url, work, clock=FakeClock(datetime.fromtimestamp(now, UTC)))


async def test_past_windows_are_deleted_and_counts_start_afresh(database_url: str) -> None:
    clock = FakeClock(datetime.fromtimestamp(600, UTC))
    address = Limit.of("token", "203.0.113.5", 1)

    async def work(limits: FailureLimits, db: Database) -> None:
        assert await limits.hit([address]) is None
        assert await limits.hit([address]) == 60
        for i in range(20):
            await limits.hit([Limit.of("token", f"192.0.2.{i}", 1)])
        clock.advance(61)
        assert await limits.hit([address]) is None  # a new window
        assert await _rows(db) == 1  # the old window's rows are gone: the table holds one window

    await _with_limits(database_url, work, clock=clock)


async def test_undo_and_forget(database_url: str) -> None:
    name, address = Limit.named("signin", "alice", "203.0.113.5", 2), Limit.of("signin-address", "203.0.113.5", 3)

    async def work(limits: FailureLimits, db: Database) -> None:
        for _ in range(3):
            await limits.hit([name, address])
        await limits.forget(name)
        await limits.undo([address])
        assert await limits.hit([name, address]) is None  # name: 1 of 2; address: 3 of 3
        assert await limits.hit([name, address]) is not None  # address: 4 of 3

    await _with_limits(database_url, work)


def test_processes_share_one_atomic_count(database_url: str) -> None:
    """Four processes, 25 failures each, at once, on one subject: the store counts all 100, and exactly the
    ones past the limit were refused (no lost update, whichever process counted them)."""
    asyncio.run(_with_limits(database_url, lambda limits, db: asyncio.sleep(0)))  # migrated before they start
    script = textwrap.dedent(f"""
        import asyncio
        from datetime import UTC, datetime
        from gateway.approvals.limits import FailureLimits, Limit
        from gateway.clock import FakeClock
        from gateway.store.db import Database

        async def main():
            db = Database({database_url!r})
            limits = FailureLimits(db, window_s=3600, clock=FakeClock(datetime.fromtimestamp(7200, UTC)))
            refused = 0
            for _ in range(25):
                refused += await limits.hit([Limit.of("token", "203.0.113.5", 60)]) is not None
            await db.aclose()
            print(refused)

        asyncio.run(main())
    """)
    workers = [
        subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(4)
    ]
    try:
        outputs = [worker.communicate(timeout=120)[0] for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
    assert all(worker.returncode == 0 for worker in workers), outputs
    assert sum(int(out) for out in outputs) == 40

    async def count(limits: FailureLimits, db: Database) -> int:
        async with db.sessions() as session:
            return int(await session.scalar(select(AuthFailure.failures)) or 0)

    assert asyncio.run(_with_limits(database_url, count)) == 100
