"""The change feed remembers what it told only while the poll can still return it: memory stays flat however
many holds a long-running gateway sees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.approvals.changes import ChangeFeed
from gateway.store.db import Database


async def test_what_the_poll_can_no_longer_return_is_forgotten(tmp_path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/gateway.db")
    await db.migrate()
    feed = ChangeFeed(db, poll_s=1.0)
    now = datetime.now(UTC)
    feed.publish("old", (3, now - timedelta(hours=1)))
    feed.publish("recent", (1, now))
    feed.publish("told-by-notify")  # no state: nothing to remember
    await feed.poll_once(now - timedelta(seconds=6))
    assert set(feed._seen) == {"recent"}
    await feed.aclose()
    await db.aclose()
