"""Searching the audit log for the activity console (`/ui/activity`): filters, newest first, a page at a time.

A page is read by keyset on the event's place in the log (`seq`): `before` is the last `seq` of the previous
page, so a page costs the same however deep it is. Indexes on (agent, seq), (team, seq), (target, seq),
(event, seq) and request_id (migration 0014) keep the common filters off a full scan.

    found = await search(db, Search(agent="support-bot", outcome="denied"), limit=50)
    more = await search(db, Search(agent="support-bot", outcome="denied"), limit=50, before=found[-1]["seq"])

The console lists calls, not events (`search_calls`): a call matches when one of its events does, and is placed by
its newest matching event; a page is the calls whose newest match is below `before`, so a call is on one page
only, however many of its events match. Each call comes with all its events (`events_of`), oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, func, or_, select

from gateway.audit.records import STORED_FIELDS, as_dict
from gateway.store.db import Database
from gateway.store.tables import AuditEventRow

t = AuditEventRow
PENDING = "approval_pending"  # the outcome of a held call's first attempt: the agent is told to come back
PAGE_MAX = 500


def _like(text: str) -> str:
    """`text` as a LIKE pattern matching it anywhere, its wildcards taken literally (escape `\\`)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _json_has(column: Any, fragment: str) -> ColumnElement[bool]:
    """The column's JSON text holds `fragment` (SQLAlchemy writes JSON with `json.dumps`, on both stores)."""
    return cast(column, String).like(_like(fragment), escape="\\")


# what an event says about its call, as the console names it
OUTCOMES: dict[str, ColumnElement[bool]] = {
    "allowed": and_(t.event == "decision", t.allow.is_(True)),
    "denied": and_(t.event == "decision", t.allow.is_(False)),
    "held": or_(t.event == "held", and_(t.event == "outcome", t.error_code == PENDING)),
    "approved": t.event == "approved",
    "rejected": t.event == "rejected",
    "expired": t.event == "expired",
    "redacted": t.event == "redacted",
    "served": and_(t.event == "outcome", t.error_code.is_(None)),
    "failed": and_(t.event == "outcome", t.error_code.is_not(None), t.error_code != PENDING),
    # more than one attempt: a fallback to another target, or a retry (the list's JSON text has two objects)
    "fell back": and_(t.event.in_(("decision", "outcome")), _json_has(t.attempts, "}, {")),
}


@dataclass(frozen=True)
class Search:
    """The console's filters; empty ones do not filter. `since` inclusive, `until` exclusive."""

    since: datetime | None = None
    until: datetime | None = None
    agent: str = ""
    team: str = ""
    target: str = ""
    outcome: str = ""
    event: str = ""
    pii: str = ""
    tool: str = ""
    reason: str = ""
    decision_id: str = ""
    request_id: str = ""
    call_id: str = ""
    session: str = ""

    def conditions(self) -> list[ColumnElement[bool]]:
        exact = {
            "agent": t.agent,
            "team": t.team,
            "target": t.target,
            "event": t.event,
            "decision_id": t.decision_id,
            "request_id": t.request_id,
            "call_id": t.call_id,
            "session": t.session,
        }
        found = [column == getattr(self, name) for name, column in exact.items() if getattr(self, name)]
        found += [t.ts >= self.since] if self.since else []
        found += [t.ts < self.until] if self.until else []
        found += [OUTCOMES[self.outcome]] if self.outcome else []
        found += [_json_has(t.pii, f'"type": "{self.pii}"')] if self.pii else []
        found += [_json_has(t.tool_calls, f'"{self.tool}"')] if self.tool else []
        if self.reason:
            found.append(func.lower(cast(t.reasons, String)).like(_like(self.reason.lower()), escape="\\"))
        return found

    def query(self) -> dict[str, str]:
        """The filters that are set, as a URL's query (so a search can be shared)."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value:
                out[f.name] = value.isoformat() if isinstance(value, datetime) else str(value)
        return out


async def search(db: Database, filters: Search, limit: int = 50, before: int | None = None) -> list[dict[str, Any]]:
    """Up to `limit` events matching `filters`, newest first (highest `seq`), all below `before` if given."""
    if filters.outcome and filters.outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
    columns = [getattr(t, name) for name in STORED_FIELDS]
    query = select(*columns).where(t.seq.is_not(None), *filters.conditions())
    if before is not None:
        query = query.where(t.seq < before)
    query = query.order_by(t.seq.desc()).limit(max(1, min(limit, PAGE_MAX)))
    async with db.engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [as_dict(row) for row in rows]


async def after(db: Database, seq: int, filters: Search | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Events matching `filters` appended after `seq`, oldest first (the live feed)."""
    columns = [getattr(t, name) for name in STORED_FIELDS]
    conditions = filters.conditions() if filters else []
    query = select(*columns).where(t.seq > seq, *conditions).order_by(t.seq).limit(limit)
    async with db.engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [as_dict(row) for row in rows]


async def last_seq(db: Database) -> int:
    """The newest event's place in the log (-1 when it is empty)."""
    async with db.engine.connect() as conn:
        value = (await conn.execute(select(func.max(t.seq)))).scalar()
    return -1 if value is None else int(value)


SCAN_MAX = 5000  # events read at a time while gathering a page of calls (the first read is a page)


async def search_calls(
    db: Database, filters: Search, limit: int = 50, before: int | None = None
) -> list[tuple[int, list[dict[str, Any]]]]:
    """Up to `limit` calls with an event matching `filters`, newest first: (the seq of the call's newest matching
    event, all the call's events oldest first). Only calls whose newest match is below `before` (a page's
    `before` is the last call's seq of the page above it)."""
    limit = max(1, min(limit, PAGE_MAX))
    order: dict[str, int] = {}  # call id: its newest matching seq, in page order
    cursor, batch = before, limit  # a first read of a page: PostgreSQL walks the seq index for so few
    async with db.engine.connect() as conn:
        while len(order) < limit:
            query = select(t.call_id, t.seq).where(t.seq.is_not(None), *filters.conditions())
            if cursor is not None:
                query = query.where(t.seq < cursor)
            rows = (await conn.execute(query.order_by(t.seq.desc()).limit(batch))).all()
            fresh = [(row.call_id, int(row.seq)) for row in rows if row.call_id not in order]
            shown = await _matched_above(conn, filters, {call for call, _ in fresh}, before)
            for call, seq in fresh:
                if call not in order and call not in shown and len(order) < limit:
                    order[call] = seq
            if len(rows) < batch:
                break
            cursor, batch = int(rows[-1].seq), min(batch * 4, SCAN_MAX)
    events = await events_of(db, list(order))
    return [(seq, events.get(call, [])) for call, seq in order.items()]


async def _matched_above(conn: Any, filters: Search, calls: set[str], before: int | None) -> set[str]:
    """Of `calls`, those with a matching event at or above `before`: they were listed on an earlier page."""
    if before is None or not calls:
        return set()
    query = select(t.call_id).where(t.call_id.in_(calls), t.seq >= before, *filters.conditions()).distinct()
    return {row.call_id for row in (await conn.execute(query)).all()}


async def events_of(db: Database, calls: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Every event of each call, oldest first."""
    out: dict[str, list[dict[str, Any]]] = {call: [] for call in calls}
    if not calls:
        return out
    columns = [getattr(t, name) for name in STORED_FIELDS]
    query = select(*columns).where(t.call_id.in_(calls), t.seq.is_not(None)).order_by(t.seq)
    async with db.engine.connect() as conn:
        for row in (await conn.execute(query)).mappings().all():
            out[row["call_id"]].append(as_dict(row))
    return out


async def session_calls(db: Database, session: str, limit: int = 200) -> list[dict[str, Any]]:
    """The request decisions of a session's calls, oldest first (one per call: the console's sequence)."""
    columns = [getattr(t, name) for name in STORED_FIELDS]
    query = (
        select(*columns)
        .where(t.session == session, t.event == "decision", t.phase == "request", t.seq.is_not(None))
        .order_by(t.seq)
        .limit(limit)
    )
    async with db.engine.connect() as conn:
        return [as_dict(row) for row in (await conn.execute(query)).mappings().all()]
