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

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from gateway.audit.leaf import event_leaf
from gateway.audit.merkle import Frontier
from gateway.audit.signing import Signer
from gateway.store.tables import AuditCheckpoint, AuditHead

log = logging.getLogger("gateway.audit")


# built once: constructing a statement costs more than executing its cached compiled form
_LOCK = (
    update(AuditHead).where(AuditHead.id == 1).values(size=AuditHead.size).returning(AuditHead.size, AuditHead.frontier)
)
_ADVANCE = (
    update(AuditHead)
    .where(AuditHead.id == 1)
    .values(size=bindparam("new_size"), frontier=bindparam("new_frontier"), updated_at=bindparam("now"))
)


def lock_head(conn: Connection) -> Frontier:
    """Lock the head row for the rest of the transaction and return the tree it describes."""
    head = conn.execute(_LOCK).one()
    return Frontier.from_hex(head.size, head.frontier)


def append(conn: Connection, rows: Sequence[dict[str, Any]]) -> tuple[int, Frontier]:
    """Number and hash `rows` (in place) after the events already in the log; returns the old size and the
    new tree. Call inside the transaction that inserts the rows."""
    frontier = lock_head(conn)
    before = frontier.size
    for row in rows:
        ts = row["ts"]
        row["ts"] = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)  # SQLite drops the zone
        leaf = event_leaf(row, frontier.size)
        row["seq"], row["leaf_hash"] = frontier.size, leaf.hex()
        frontier.append(leaf)
    conn.execute(_ADVANCE, {"new_size": frontier.size, "new_frontier": frontier.hex(), "now": datetime.now(UTC)})
    return before, frontier


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


def checkpoint_if_new(conn: Connection, signer: Signer) -> int | None:
    """Write a checkpoint of the current tree unless one of that size exists; the tree size, or None."""
    if head_size(conn) <= latest_checkpoint_size(conn):
        return None  # nothing new: no lock taken, so an idle gateway never blocks writers
    frontier = lock_head(conn)
    if frontier.size <= latest_checkpoint_size(conn):  # another replica got there first
        return None
    store_checkpoint(conn, signer, frontier)
    return frontier.size
