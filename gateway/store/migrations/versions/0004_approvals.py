"""The approval queue: held calls (payload encrypted), reviewers and their API tokens.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "approvals",
        sa.Column("approval_id", sa.String(32), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("surface", sa.String(32), nullable=False),
        sa.Column("agent", sa.String(200), nullable=False, index=True),
        sa.Column("team", sa.String(200)),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("end_user", sa.String(200)),
        sa.Column("target", sa.String(200)),
        sa.Column("approvers", sa.String(200), index=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("tool_calls", sa.JSON, nullable=False),
        sa.Column("action_hash", sa.String(64), nullable=False, index=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("required", sa.Integer, nullable=False),
        sa.Column("votes", sa.JSON, nullable=False),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("comment", sa.Text),
        sa.Column("decision_id", sa.String(32), nullable=False),
        sa.Column("call_id", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("created_at", ts, nullable=False, index=True),
        sa.Column("expires_at", ts, nullable=False, index=True),
        sa.Column("decided_at", ts),
        sa.Column("used_at", ts),
        sa.Column("updated_at", ts, nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("notify", sa.JSON, nullable=False),
    )
    op.create_table(
        "reviewers",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("groups", sa.JSON, nullable=False),
        sa.Column("password_hash", sa.String(300)),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("disabled_at", ts),
    )
    op.create_table(
        "reviewer_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("reviewer", sa.String(200), nullable=False, index=True),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("revoked_at", ts),
    )


def downgrade() -> None:
    op.drop_table("reviewer_tokens")
    op.drop_table("reviewers")
    op.drop_table("approvals")
