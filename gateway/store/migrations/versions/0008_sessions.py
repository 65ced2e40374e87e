"""Sessions: a bounded, expiring summary of what the gateway saw in each agent's session (`input.session`).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "sessions",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("agent", sa.String(200), nullable=False, index=True),
        sa.Column("summary", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("updated_at", ts, nullable=False),
        sa.Column("expires_at", ts, nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("sessions")
