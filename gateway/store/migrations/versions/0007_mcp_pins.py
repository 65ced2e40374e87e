"""MCP tool pins: the approved and the last seen definition of each upstream tool (rug-pull defence).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "mcp_tool_pins",
        sa.Column("server", sa.String(200), primary_key=True),
        sa.Column("tool", sa.String(200), primary_key=True, index=True),
        sa.Column("approved_hash", sa.String(64), nullable=True),
        sa.Column("approved", sa.JSON, nullable=True),
        sa.Column("approved_by", sa.String(200), nullable=True),
        sa.Column("approved_at", ts, nullable=True),
        sa.Column("seen_hash", sa.String(64), nullable=False),
        sa.Column("seen", sa.JSON, nullable=False),
        sa.Column("seen_at", ts, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mcp_tool_pins")
