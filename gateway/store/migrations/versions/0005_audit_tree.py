"""The audit log becomes a Merkle tree: a sequence number and leaf hash per event, the `audit_head` row that
orders writers, and signed checkpoints. Events written before this migration join the tree in id order.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from gateway.audit.leaf import event_leaf
from gateway.audit.merkle import Frontier

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# the columns as they are at this revision (not as the models may later be), for the backfill
_JSON = ("reasons", "attempts", "tool_calls", "latency_ms", "pii")
_BOOL = ("allow", "fail_open")  # typed, so SQLite's 0/1 read back as the booleans the writer hashes
_INT = ("upstream_status", "input_tokens", "output_tokens")
_TEXT = (
    "decision_id call_id request_id agent team key_id end_user surface kind target phase error_code "
    "policy_version provider upstream_model detail event approval_id actor"
).split()
EVENTS = sa.table(
    "audit_events",
    sa.column("id", sa.Integer),
    sa.column("ts", sa.DateTime(timezone=True)),
    sa.column("seq", sa.BigInteger),
    sa.column("leaf_hash", sa.String),
    sa.column("total_ms", sa.Float),
    *(sa.column(name, sa.JSON) for name in _JSON),
    *(sa.column(name, sa.Boolean) for name in _BOOL),
    *(sa.column(name, sa.Integer) for name in _INT),
    *(sa.column(name, sa.String) for name in _TEXT),
)
HEAD = sa.table(
    "audit_head",
    sa.column("id", sa.Integer),
    sa.column("size", sa.BigInteger),
    sa.column("frontier", sa.JSON),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("leaf_hash", sa.String(64), nullable=True))
        batch.create_unique_constraint("uq_audit_events_seq", ["seq"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("frontier", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("tree_size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root_hash", sa.String(64), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("frontier", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    frontier = _backfill(op.get_bind())
    op.bulk_insert(HEAD, [{"id": 1, "size": frontier.size, "frontier": frontier.hex(), "updated_at": None}])


def _backfill(conn: sa.Connection) -> Frontier:
    """Give the events already stored their place in the tree, oldest first."""
    frontier = Frontier()
    rows = conn.execute(sa.select(EVENTS).order_by(EVENTS.c.id)).mappings().all()
    for row in rows:
        leaf = event_leaf(dict(row), frontier.size)
        conn.execute(EVENTS.update().where(EVENTS.c.id == row["id"]).values(seq=frontier.size, leaf_hash=leaf.hex()))
        frontier.append(leaf)
    return frontier


def downgrade() -> None:
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_constraint("uq_audit_events_seq", type_="unique")
        batch.drop_column("leaf_hash")
        batch.drop_column("seq")
