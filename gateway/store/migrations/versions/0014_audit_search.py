"""Indexes for searching the audit log from the activity console (`gateway.audit.search`): each common filter
paired with the event's place in the log, so a newest-first page under a filter is an index range scan.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_audit_events_agent_seq": ["agent", "seq"],
    "ix_audit_events_team_seq": ["team", "seq"],
    "ix_audit_events_target_seq": ["target", "seq"],
    "ix_audit_events_event_seq": ["event", "seq"],
    "ix_audit_events_request_id": ["request_id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "audit_events", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, "audit_events")
