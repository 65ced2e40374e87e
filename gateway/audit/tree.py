"""Appending to the audit log's tree inside the writer's transaction, and writing signed checkpoints.

Order comes from the `audit_head` row: a writer locks it first thing in its transaction (an UPDATE, which
PostgreSQL holds as a row lock and SQLite as its write lock, so no other transaction can read a stale head
and later fail to upgrade), numbers its events from the head's size, hashes them into the frontier and
stores the new head with the events. Concurrent writers and replicas therefore make one log, with no gap
and no fork: a transaction that rolls back takes its numbers with it.

The functions are synchronous, over a SQLAlchemy `Connection`: the SQLite writer runs a whole batch in one
hop to its own thread (one hop instead of one per statement), and async callers on PostgreSQL run them with
`AsyncConnection.run_sync`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from gateway.audit.leaf import event_leaf
from gateway.audit.merkle import Frontier
from gateway.audit.signing import Signer
from gateway.store.prepared import Prepared
from gateway.store.tables import AuditCheckpoint, AuditEventRow, AuditHead

log = logging.getLogger("gateway.audit")


# built once: constructing a statement costs more than executing its cached compiled form
_LOCK = (
    update(AuditHead).where(AuditHead.id == 1).values(size=AuditHead.size).returning(AuditHead.size, AuditHead.frontier)
)
_ADVANCE = (
    update(AuditHead)
    .where(AuditHead.id == 1)
    .values(
        size=bindparam("new_size"),
        frontier=bindparam("new_frontier"),
        updated_at=bindparam("now"),
        note=bindparam("note"),
    )
)
_INSERT = insert(AuditEventRow)
EVENT_COLUMNS = [c.key for c in AuditEventRow.__table__.columns if c.key != "id"]  # every one: a row has them all


@dataclass(frozen=True)
class _OnCursor:
    """The three statements of an append, run on SQLite's cursor (`gateway.store.prepared`)."""

    lock: Prepared
    advance: Prepared
    insert: Prepared


@cache
def _on_cursor(dialect: Dialect) -> _OnCursor:
    return _OnCursor(Prepared(_LOCK, dialect), Prepared(_ADVANCE, dialect), Prepared(_INSERT, dialect, EVENT_COLUMNS))


def lock_head(conn: Connection) -> Frontier:
    """Lock the head row for the rest of the transaction and return the tree it describes."""
    head = conn.execute(_LOCK).one()
    return Frontier.from_hex(head.size, head.frontier)


def append(conn: Connection, rows: Sequence[dict[str, Any]], signer: Signer | None = None) -> tuple[int, Frontier]:
    """Number and hash `rows` (in place) after the events already in the log, insert them and advance the
    head, signed by `signer` (a checkpoint note of the new size, kept in the head row: no event is ever
    outside a signature); returns the old size and the new tree. Call inside a transaction: it commits them
    together.

    On SQLite (the writer's own thread, `gateway.store.sqlite_thread`) the statements run on the driver's
    cursor, in the same transaction, with values processed as SQLAlchemy would: half the batch's CPU."""
    if conn.dialect.name == "sqlite":
        return _append_on_cursor(conn, rows, signer)
    frontier = lock_head(conn)
    before = _number(frontier, rows)
    conn.execute(_ADVANCE, _advance(frontier, signer))
    conn.execute(_INSERT, rows)
    return before, frontier


def _advance(frontier: Frontier, signer: Signer | None) -> dict[str, Any]:
    note = signer.sign_checkpoint(frontier.size, frontier.root()) if signer else None
    return {"new_size": frontier.size, "new_frontier": frontier.hex(), "now": datetime.now(UTC), "note": note}


def _append_on_cursor(conn: Connection, rows: Sequence[dict[str, Any]], signer: Signer | None) -> tuple[int, Frontier]:
    """`append` on the driver's cursor; a driver error is raised as SQLAlchemy would raise it (the writer retries
    an OperationalError such as "database is locked", as for every other statement)."""
    statements = _on_cursor(conn.dialect)
    dbapi_error = conn.dialect.loaded_dbapi.Error
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        size, hashes = statements.lock.execute(cursor).fetchone()
        frontier = Frontier.from_hex(size, json.loads(hashes))
        before = _number(frontier, rows)
        statements.advance.execute(cursor, _advance(frontier, signer))
        statements.insert.executemany(cursor, rows)
    except dbapi_error as exc:
        raise DBAPIError.instance(None, None, exc, dbapi_error, dialect=conn.dialect) from exc
    finally:
        cursor.close()
    return before, frontier


def _number(frontier: Frontier, rows: Sequence[dict[str, Any]]) -> int:
    """Give `rows` their sequence numbers and leaf hashes, appending them to `frontier`; the size before."""
    before = frontier.size
    for row in rows:
        ts = row["ts"]
        row["ts"] = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)  # SQLite drops the zone
        leaf = event_leaf(row, frontier.size)
        row["seq"], row["leaf_hash"] = frontier.size, leaf.hex()
        frontier.append(leaf)
    return before


def store_checkpoint(conn: Connection, signer: Signer, frontier: Frontier) -> str:
    """Sign the tree's current root and store the checkpoint (with the frontier, for pruning later)."""
    note = signer.sign_checkpoint(frontier.size, frontier.root())
    conn.execute(
        insert(AuditCheckpoint).values(
            tree_size=frontier.size,
            root_hash=frontier.root().hex(),
            note=note,
            frontier=frontier.hex(),
            created_at=datetime.now(UTC),
        )
    )
    return note


def latest_checkpoint_size(conn: Connection) -> int:
    return int((conn.execute(select(func.coalesce(func.max(AuditCheckpoint.tree_size), 0)))).scalar_one())


def head_size(conn: Connection) -> int:
    return int((conn.execute(select(AuditHead.size).where(AuditHead.id == 1))).scalar_one())


def head_note(conn: Connection) -> str | None:
    """The head's signed note (None: written before heads were signed, or by a gateway without a key)."""
    note = conn.execute(select(AuditHead.note).where(AuditHead.id == 1)).scalar_one_or_none()
    return str(note) if note else None


def checkpoint_if_new(conn: Connection, signer: Signer) -> int | None:
    """Write a checkpoint of the current tree unless one of that size exists; the tree size, or None."""
    if head_size(conn) <= latest_checkpoint_size(conn):
        return None  # nothing new: no lock taken, so an idle gateway never blocks writers
    frontier = lock_head(conn)
    if frontier.size <= latest_checkpoint_size(conn):  # another replica got there first
        return None
    store_checkpoint(conn, signer, frontier)
    return frontier.size
