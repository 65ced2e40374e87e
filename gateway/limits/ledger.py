"""The counters of limits in the store, changed by statements that are atomic on SQLite and PostgreSQL alike.

Each function takes a connection inside one transaction (`Limiter` runs them on the SQLite writer's thread, or
through `run_sync` on PostgreSQL). Taking from a limit is one conditional upsert per counter:

    INSERT ... ON CONFLICT DO UPDATE SET used = used + :n WHERE used + reserved + :n <= :max RETURNING ...

It returns nothing when the limit would be passed, and the whole transaction (every counter the call takes
from) is rolled back: a call gets all it asked for or nothing, whichever worker or replica counts at the same
moment (SQLite serializes writers; PostgreSQL locks the row and re-checks `WHERE` on its newest version).
Counters are taken in key order, so two calls never wait on each other's rows in a circle.

The statements are built once, with bound parameters; on SQLite they run on the driver's cursor
(`gateway.store.prepared`): a call's counting is two short transactions, and SQLAlchemy's per-statement work
would otherwise cost more than SQLite's own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Literal

from sqlalchemy import Connection, bindparam, delete, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.base import Executable

from gateway.store.prepared import Prepared
from gateway.store.tables import UsageCounter, UsageReservation

Field = Literal["used", "reserved"]
Key = tuple[str, str, str, int]
T, R = UsageCounter, UsageReservation
KEY_COLUMNS = ["limit_name", "subject", "measure", "window_start"]


@dataclass(frozen=True, slots=True)
class Entry:
    """An amount taken from one counter: `used` at once (requests, calls in flight) or `reserved` until the call
    settles (tokens, nano-dollars)."""

    limit: str
    subject: str
    measure: str
    window_start: int
    window_end: int
    amount: int
    max: int
    field: Field

    @property
    def key(self) -> Key:
        return (self.limit, self.subject, self.measure, self.window_start)

    def stored(self) -> list[Any]:
        return [self.limit, self.subject, self.measure, self.window_start, self.amount, self.field]


@dataclass(frozen=True, slots=True)
class Level:
    """A counter's value after this call took from it."""

    used: int
    reserved: int


class Over(Exception):
    """Taking `entry` would pass its limit; `level` is the counter as it stood. Raised to roll the transaction
    back, not a failure of the connection (the SQLite writer keeps it)."""

    keep_connection = True

    def __init__(self, entry: Entry, level: Level) -> None:
        super().__init__(entry.limit)
        self.entry, self.level = entry, level


_WHERE_KEY = (  # bound as k_<column>: an UPDATE reserves the columns' own names for its SET clause
    T.limit_name == bindparam("k_limit_name"),
    T.subject == bindparam("k_subject"),
    T.measure == bindparam("k_measure"),
    T.window_start == bindparam("k_window_start"),
)
_LEVEL = select(T.used, T.reserved).where(*_WHERE_KEY)
_HOLD = insert(R).values(
    reservation_id=bindparam("reservation_id"),
    call_id=bindparam("call_id"),
    entries=bindparam("entries", type_=R.__table__.c.entries.type),
    expires_at=bindparam("expires_at", type_=R.__table__.c.expires_at.type),
)
_END = delete(R).where(R.reservation_id == bindparam("reservation_id")).returning(R.entries)
_RELEASE = {
    "used": update(T).where(*_WHERE_KEY).values(used=T.used - bindparam("amount")),
    "reserved": update(T)
    .where(*_WHERE_KEY)
    .values(reserved=T.reserved - bindparam("amount"), used=T.used + bindparam("spent")),
}


@cache
def _take_statement(dialect: str, field: Field) -> Executable:
    """The conditional upsert that takes `amount` into `field` of one counter, unless that passes `max`."""
    insert_into = postgresql.insert if dialect == "postgresql" else sqlite.insert
    column = T.used if field == "used" else T.reserved
    values: dict[str, Any] = {name: bindparam(f"k_{name}") for name in KEY_COLUMNS}
    values["window_end"] = bindparam("window_end")
    values |= {"used": bindparam("first_used"), "reserved": bindparam("first_reserved")}
    return (
        insert_into(T)
        .values(**values)
        .on_conflict_do_update(
            index_elements=KEY_COLUMNS,
            set_={field: column + bindparam("amount")},
            where=(T.used + T.reserved + bindparam("amount") <= bindparam("max")),
        )
        .returning(T.used, T.reserved)
    )


@cache
def _prepared(statement: Executable, dialect: Dialect) -> Prepared:
    if not isinstance(statement, ClauseElement):
        raise TypeError("a ledger statement is a ClauseElement")
    return Prepared(statement, dialect)


class _Statements:
    """Runs the ledger's statements in the connection's transaction: on SQLite's cursor, else through SQLAlchemy."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect
        sqlite_cursor = conn.dialect.name == "sqlite" and conn.connection.driver_connection is not None
        self.cursor = conn.connection.driver_connection.cursor() if sqlite_cursor else None  # type: ignore[union-attr]

    def row(self, statement: Executable, values: Mapping[str, Any]) -> Sequence[Any] | None:
        if self.cursor is None:
            found = self.conn.execute(statement, dict(values)).first()
            return tuple(found) if found is not None else None
        try:
            return _prepared(statement, self.dialect).execute(self.cursor, values).fetchone()  # type: ignore[no-any-return]
        except self.dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(None, None, exc, self.dialect.loaded_dbapi.Error, dialect=self.dialect) from exc

    def run(self, statement: Executable, values: Mapping[str, Any]) -> None:
        if self.cursor is None:
            self.conn.execute(statement, dict(values))
            return
        try:
            _prepared(statement, self.dialect).execute(self.cursor, values)
        except self.dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(None, None, exc, self.dialect.loaded_dbapi.Error, dialect=self.dialect) from exc

    def close(self) -> None:
        if self.cursor is not None:
            self.cursor.close()


def _key_values(key: Key) -> dict[str, Any]:
    return {f"k_{name}": value for name, value in zip(KEY_COLUMNS, key, strict=True)}


def take(conn: Connection, entries: Sequence[Entry], hold: tuple[str, str, datetime] | None) -> list[Level]:
    """Take every entry, or raise `Over` (the caller rolls back). `hold`: (reservation id, call id, expiry) of the
    row that remembers what to give back when the call ends."""
    statements = _Statements(conn)
    try:
        levels: dict[Key, Level] = {}
        for entry in sorted(entries, key=lambda e: e.key):
            row = _take_one(statements, entry) if entry.amount <= entry.max else None
            if row is None:
                now = statements.row(_LEVEL, _key_values(entry.key))
                raise Over(entry, Level(int(now[0]), int(now[1])) if now else Level(0, 0))
            levels[entry.key] = Level(int(row[0]), int(row[1]))
        if hold is not None:
            stored = [e.stored() for e in entries if e.measure != "requests"]
            values = {"reservation_id": hold[0], "call_id": hold[1], "entries": stored, "expires_at": hold[2]}
            statements.run(_HOLD, values)
        return [levels[e.key] for e in entries]
    finally:
        statements.close()


def _take_one(statements: _Statements, entry: Entry) -> Sequence[Any] | None:
    values = _key_values(entry.key) | {
        "window_end": entry.window_end,
        "first_used": entry.amount if entry.field == "used" else 0,
        "first_reserved": entry.amount if entry.field == "reserved" else 0,
        "amount": entry.amount,
        "max": entry.max,
    }
    return statements.row(_take_statement(statements.dialect.name, entry.field), values)


def give_back(conn: Connection, reservation_id: str, spent: dict[str, int]) -> bool:
    """End a reservation: what it reserved is released and `spent` (by measure: tokens, spend) is added to
    `used` in the windows it was reserved in; a call in flight is no longer counted. False when a sweep ended
    it first (its process was presumed dead): then nothing more is done."""
    statements = _Statements(conn)
    try:
        row = statements.row(_END, {"reservation_id": reservation_id})
        if row is None:
            return False
        _release(statements, _entries(row[0]), spent)
        return True
    finally:
        statements.close()


def _entries(stored: Any) -> list[list[Any]]:
    return json.loads(stored) if isinstance(stored, str) else list(stored)  # the cursor returns JSON as text


def _release(statements: _Statements, stored: list[list[Any]], spent: dict[str, int]) -> None:
    for limit, subject, measure, window_start, amount, field in sorted(stored, key=lambda e: e[:4]):
        values = _key_values((limit, subject, measure, window_start)) | {"amount": amount}
        if field == "reserved":
            values["spent"] = spent.get(measure, 0)
        statements.run(_RELEASE[field], values)


def sweep(conn: Connection, now: datetime, batch: int = 100) -> int:
    """End reservations past their expiry (their call's process died): calls in flight are released, and what
    they reserved counts as spent (they may have used it upstream; a budget errs on the side of holding)."""
    ids = conn.execute(select(R.reservation_id).where(R.expires_at < now).limit(batch)).scalars().all()
    statements = _Statements(conn)
    try:
        ended = 0
        for reservation_id in ids:
            row = statements.row(_END, {"reservation_id": reservation_id})
            if row is None:  # another replica swept it
                continue
            stored = _entries(row[0])
            _release(statements, stored, {e[2]: e[4] for e in stored if e[5] == "reserved"})
            ended += 1
        return ended
    finally:
        statements.close()


def counters(conn: Connection, now: int, limit: str | None = None) -> list[Any]:
    """Every counter of a window that holds `now` (calls in flight too), for `gateway usage`."""
    query = select(T).where((T.window_end > now) | (T.window_start == 0))
    if limit is not None:
        query = query.where(T.limit_name == limit)
    return list(conn.execute(query.order_by(T.limit_name, T.subject, T.measure)).all())


def levels(conn: Connection, keys: Sequence[Key]) -> dict[Key, Level]:
    """The counters named by `keys` (missing: nothing counted yet)."""
    if not keys:
        return {}
    columns = (T.limit_name, T.subject, T.measure, T.window_start, T.used, T.reserved)
    rows = conn.execute(select(*columns).where(tuple_(*columns[:4]).in_(list(keys)))).all()
    return {(r[0], r[1], r[2], r[3]): Level(r[4], r[5]) for r in rows}


def adjust(conn: Connection, key: Key, window_end: int, used: int) -> int:
    """Set a counter's settled usage (a reset is 0); the value it had."""
    insert_into = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    before = conn.execute(_LEVEL, _key_values(key)).first()
    values = dict(zip(KEY_COLUMNS, key, strict=True))
    conn.execute(
        insert_into(T)
        .values(**values, window_end=window_end, used=used, reserved=0)
        .on_conflict_do_update(index_elements=KEY_COLUMNS, set_={"used": used})
    )
    return int(before[0]) if before else 0


def prune(conn: Connection, before: int) -> int:
    """Delete counters of windows that ended before `before` (Unix seconds)."""
    return conn.execute(delete(T).where(T.window_end < before, T.window_start > 0)).rowcount or 0
