"""Usage counters and in-flight reservations for limits that hold across workers and replicas (`gateway.limits`).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_counters",
        sa.Column("limit_name", sa.String(100), primary_key=True),
        sa.Column("subject", sa.String(512), primary_key=True),
        sa.Column("measure", sa.String(16), primary_key=True),
        sa.Column("window_start", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("window_end", sa.BigInteger, nullable=False, index=True),
        sa.Column("used", sa.BigInteger, nullable=False),
        sa.Column("reserved", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "usage_reservations",
        sa.Column("reservation_id", sa.String(32), primary_key=True),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("entries", sa.JSON, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("usage_reservations")
    op.drop_table("usage_counters")
