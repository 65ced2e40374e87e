"""Responses API state: the responses the gateway keeps for `previous_response_id` and `GET /v1/responses/{id}`.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "responses",
        sa.Column("response_id", sa.String(64), primary_key=True),
        sa.Column("agent", sa.String(200), nullable=False, index=True),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("expires_at", ts, nullable=False, index=True),
        sa.Column("payload", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("responses")
