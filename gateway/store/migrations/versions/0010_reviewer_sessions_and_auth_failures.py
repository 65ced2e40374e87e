"""Reviewers' sign-ins live in the store (logging out ends a session for every worker and replica), and failed
sign-ins and bad tokens are counted there (limits that hold across workers).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "reviewer_sessions",
        sa.Column("session_hash", sa.String(64), primary_key=True),
        sa.Column("reviewer", sa.String(200), nullable=False, index=True),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("expires_at", ts, nullable=False, index=True),
        sa.Column("ended_at", ts),
    )
    op.create_table(
        "auth_failures",
        sa.Column("scope", sa.String(32), primary_key=True),
        sa.Column("subject", sa.String(128), primary_key=True),
        sa.Column("window_start", sa.BigInteger, primary_key=True, autoincrement=False, index=True),
        sa.Column("failures", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("auth_failures")
    op.drop_table("reviewer_sessions")
