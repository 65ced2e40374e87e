"""The console's search over the audit log: every filter on both stores, keyset pages, and LIKE wildcards taken
literally."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.audit.events import AuditEvent
from gateway.audit.records import AuditLog
from gateway.audit.search import Search, after, last_seq, search, search_calls, session_calls
from gateway.model import new_id
from gateway.store.db import Database

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _event(n: int, **values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "decision_id": new_id(),
        "call_id": f"call{n}",
        "request_id": f"req{n}",
        "ts": T0 + timedelta(minutes=n),
        "agent": "support-bot",
        "team": "cs",
        "surface": "openai",
        "target": "gpt",
        "allow": True,
    }
    return AuditEvent.model_validate({**base, **values}).row()


ROWS = [
    _event(0),
    _event(1, allow=False, reasons=["Secret 50% OFF_code found"]),
    _event(2, agent="contracts-bot", team="legal", pii=[{"type": "EMAIL_ADDRESS", "where": ["messages"]}]),
    _event(3, event="held", kind="tool", tool_calls=["transfer_funds"]),
    _event(4, event="outcome", error_code="upstream_error"),
    _event(5, event="redacted", pii=[{"type": "PERSON", "where": ["output"]}], target="claude"),
    _event(6, event="outcome", error_code="approval_pending"),  # a held call's first answer: come back later
]


async def _calls(db: Database, **filters: Any) -> list[str]:
    return [row["call_id"] for row in await search(db, Search(**filters), limit=100)]


async def test_every_filter(database_url: str) -> None:
    db = Database(database_url)
    await db.migrate()
    log = AuditLog(db)
    try:
        assert await last_seq(db) == -1
        await log.write(ROWS)
        assert await _calls(db) == [f"call{n}" for n in range(6, -1, -1)]  # newest first
        assert await _calls(db, agent="contracts-bot") == ["call2"]
        assert await _calls(db, team="cs", outcome="denied") == ["call1"]
        assert await _calls(db, outcome="allowed") == ["call2", "call0"]
        assert await _calls(db, outcome="held") == ["call6", "call3"]
        assert await _calls(db, outcome="failed") == ["call4"]
        assert await _calls(db, outcome="redacted", pii="PERSON") == ["call5"]
        assert await _calls(db, pii="EMAIL_ADDRESS") == ["call2"]
        assert await _calls(db, tool="transfer_funds") == ["call3"]
        assert await _calls(db, target="claude") == ["call5"]
        assert await _calls(db, event="outcome") == ["call6", "call4"]
        assert await _calls(db, reason="50% off_CODE") == ["call1"]  # case-insensitive, wildcards literal
        assert await _calls(db, reason="5_%") == []
        assert await _calls(db, request_id="req3") == ["call3"]
        assert await _calls(db, decision_id=ROWS[4]["decision_id"]) == ["call4"]
        window = {"since": T0 + timedelta(minutes=1), "until": T0 + timedelta(minutes=3)}
        assert await _calls(db, **window) == ["call2", "call1"]

        first = await search(db, Search(), limit=4)
        rest = await search(db, Search(), limit=4, before=first[-1]["seq"])
        assert [r["call_id"] for r in first + rest] == [f"call{n}" for n in range(6, -1, -1)]
        assert [r["call_id"] for r in await after(db, first[1]["seq"])] == ["call6"]
        assert [r["call_id"] for r in await after(db, -1, Search(outcome="denied"))] == ["call1"]
        assert await last_seq(db) == first[0]["seq"]
        with pytest.raises(ValueError, match="outcome must be one of"):
            await search(db, Search(outcome="sideways"))
    finally:
        await log.aclose()
        await db.aclose()


def test_a_search_is_a_shareable_query() -> None:
    since = datetime(2026, 3, 1, tzinfo=UTC)
    assert Search(agent="a", outcome="denied", since=since).query() == {
        "agent": "a",
        "outcome": "denied",
        "since": "2026-03-01T00:00:00+00:00",
    }


async def test_calls_are_listed_once_each_by_their_newest_match(database_url: str) -> None:
    """Pages of calls: a call with several matching events is on one page only, placed by its newest match,
    and comes with all its events (matching or not); `session` lists a session's calls; "fell back" finds calls
    that tried more than one target."""
    db = Database(database_url)
    await db.migrate()
    log = AuditLog(db)
    tried = [{"provider": "down", "model": "x", "status": None}, {"provider": "oai", "model": "gpt", "status": 200}]
    rows = []
    for n in range(5):  # calls a0..a4, each: a decision, then an outcome (event order: a0, a0, a1, a1, ...)
        rows.append(_event(n, call_id=f"a{n}", session="s1" if n % 2 else None))
        rows.append(_event(n, call_id=f"a{n}", event="outcome", attempts=tried if n == 3 else []))
    rows.append(_event(9, call_id="a0", event="redacted", pii=[{"type": "PERSON"}]))  # a0's newest event: last
    try:
        await log.write(rows)
        first = await search_calls(db, Search(agent="support-bot"), limit=2)
        assert [events[0]["call_id"] for _, events in first] == ["a0", "a4"]
        assert [e["event"] for e in first[0][1]] == ["decision", "outcome", "redacted"]  # all its events, in order
        rest = await search_calls(db, Search(agent="support-bot"), limit=10, before=first[-1][0])
        assert [events[0]["call_id"] for _, events in rest] == ["a3", "a2", "a1"]  # a0 is not listed again
        by_event = await search_calls(db, Search(event="decision"), limit=10)
        assert [events[0]["call_id"] for _, events in by_event] == ["a4", "a3", "a2", "a1", "a0"]
        assert [events[0]["call_id"] for _, events in await search_calls(db, Search(outcome="fell back"))] == ["a3"]
        assert [c["call_id"] for c in await session_calls(db, "s1")] == ["a1", "a3"]
    finally:
        await log.aclose()
        await db.aclose()
