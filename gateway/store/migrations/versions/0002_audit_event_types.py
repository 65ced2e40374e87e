"""Audit events are typed: an `event` column (decision, held, approved, ...), and the approval and actor
they concern.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("event", sa.String(16), nullable=False, server_default="decision"))
        batch.add_column(sa.Column("approval_id", sa.String(32)))
        batch.add_column(sa.Column("actor", sa.String(200)))
    op.create_index("ix_audit_events_approval_id", "audit_events", ["approval_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_approval_id", "audit_events")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("actor")
        batch.drop_column("approval_id")
        batch.drop_column("event")
