"""Each decision keeps its policy input and the policy's answer (`audit_events.policy`), in its leaf: what
`gateway policy replay` evaluates a candidate policy on, and `gateway policy why` explains. Every policy version
that served is kept (`policy_versions`), so a decision's version can be fetched again.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("policy", sa.JSON, nullable=True))
    op.create_table(
        "policy_versions",
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("modules", sa.JSON, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("first_served", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_served", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("policy_versions")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("policy")
