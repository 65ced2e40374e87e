"""Each audit event names its call's session (`audit_events.session`, the session's hashed id, indexed with the
event's place in the log) so the console draws a session's calls as a sequence, and carries the prompt-injection
signals of the untrusted content its call read (`audit_events.injection`). Both are in a leaf only when present.
A session keeps its most suspicious passage, sealed (`sessions.flagged`), for the reviewer of a call it leads to.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("session", sa.String(64), nullable=True))
        batch.add_column(sa.Column("injection", sa.JSON, nullable=True))
    op.create_index("ix_audit_events_session_seq", "audit_events", ["session", "seq"])
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("flagged", sa.LargeBinary, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("flagged")
    op.drop_index("ix_audit_events_session_seq", "audit_events")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("injection")
        batch.drop_column("session")
