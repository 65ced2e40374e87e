"""The session store on SQLite and PostgreSQL: what was before, no lost update under concurrency, expiry, and
sessions scoped to the agent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from gateway.clock import FakeClock
from gateway.sessions.store import SessionStore, session_id
from gateway.sessions.summary import Observation
from gateway.settings import SessionsConfig
from gateway.store.db import Database
from gateway.store.tables import SessionSummary


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.migrate()
    yield database
    await database.aclose()


def _call(target: str = "lookup") -> Observation:
    return Observation(pii={("EMAIL_ADDRESS", "tool_result"): 1}, target=("tool", target, "bank"), calls=1)


async def test_observe_returns_what_was_before(db: Database) -> None:
    store = SessionStore(db, SessionsConfig())
    assert await store.observe("bot", ("header", "s1"), _call()) is None  # a new session
    before = await store.observe("bot", ("header", "s1"), _call("send"))
    assert before is not None and before["calls"] == 1 and [t["target"] for t in before["targets"]] == ["lookup"]
    now = await store.read("bot", ("header", "s1"))
    assert now is not None and now["calls"] == 2 and now["pii"][0]["count"] == 2


async def test_concurrent_calls_of_one_session_lose_no_update(db: Database) -> None:
    store = SessionStore(db, SessionsConfig())
    other = SessionStore(db, SessionsConfig())  # a second replica's store on the same database
    calls = [(store if n % 2 else other).observe("bot", ("mcp", "busy"), _call()) for n in range(24)]
    befores = await asyncio.gather(*calls)
    summary = await store.read("bot", ("mcp", "busy"))
    assert summary is not None and summary["calls"] == 24
    assert summary["pii"] == [{"type": "EMAIL_ADDRESS", "source": "tool_result", "count": 24}]
    assert sorted(b["calls"] if b else 0 for b in befores) == list(range(24))  # each saw a distinct state


async def test_an_idle_session_expires(db: Database) -> None:
    clock = FakeClock()
    store = SessionStore(db, SessionsConfig(ttl_s=300), clock)
    await store.observe("bot", ("header", "s1"), _call())
    clock.advance(299)
    assert await store.read("bot", ("header", "s1")) is not None  # idle, not yet for long enough
    clock.advance(1)
    assert await store.read("bot", ("header", "s1")) is None
    assert await store.observe("bot", ("header", "s1"), Observation(calls=1)) is None  # starts over
    summary = await store.read("bot", ("header", "s1"))
    assert summary is not None and summary["calls"] == 1 and summary["pii"] == []


async def test_expired_sessions_are_deleted_when_a_new_one_starts(db: Database) -> None:
    clock = FakeClock()
    store = SessionStore(db, SessionsConfig(ttl_s=300), clock)
    await store.observe("bot", ("header", "old"), _call())
    clock.advance(301)
    await store.observe("bot", ("header", "new"), _call())
    async with db.sessions() as session:
        ids = set((await session.execute(select(SessionSummary.session_id))).scalars())
    assert ids == {session_id("bot", ("header", "new"))}


async def test_sessions_belong_to_the_agent(db: Database) -> None:
    store = SessionStore(db, SessionsConfig())
    await store.observe("support-bot", ("header", "shared-name"), _call())
    assert await store.observe("intern", ("header", "shared-name"), Observation(calls=1)) is None
    mine = await store.read("support-bot", ("header", "shared-name"))
    assert mine is not None and mine["calls"] == 1  # the intern's call did not reach it
    assert await store.read("support-bot", ("mcp", "shared-name")) is None  # a header is not an MCP session


async def test_the_session_key_is_not_stored(db: Database) -> None:
    store = SessionStore(db, SessionsConfig())
    await store.observe("bot", ("header", "conversation-4711"), _call())
    async with db.sessions() as session:
        row = (await session.execute(select(SessionSummary))).scalar_one()
    assert "conversation-4711" not in repr((row.session_id, row.summary)) and row.agent == "bot"


async def test_the_summary_is_bounded(db: Database) -> None:
    store = SessionStore(db, SessionsConfig(max_entries=2))
    for n in range(4):
        seen = Observation(pii={(f"TYPE_{n}", "tool_result"): 1}, target=("tool", f"tool_{n}", "bank"), calls=1)
        await store.observe("bot", ("header", "busy"), seen)
    summary = await store.read("bot", ("header", "busy"))
    assert summary is not None and summary["truncated"] and summary["calls"] == 4
    assert [t["target"] for t in summary["targets"]] == ["tool_0", "tool_1"]
    assert [p["type"] for p in summary["pii"]] == ["TYPE_0", "TYPE_1"]
