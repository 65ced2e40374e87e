"""docs/audit.md documents every field of an audit event, and its checkpoint example parses."""

from __future__ import annotations

from gateway.audit.events import AuditEvent
from gateway.audit.records import STORED_FIELDS
from tests.conftest import ROOT

DOC = (ROOT / "docs" / "audit.md").read_text()


def test_every_event_field_is_documented():
    missing = [name for name in [*AuditEvent.model_fields, *STORED_FIELDS] if f"| `{name}` |" not in DOC]
    assert not missing, f"fields not in docs/audit.md's table: {missing}"


def test_every_event_type_is_documented():
    from gateway.audit.events import EVENT_TYPES

    assert all(f"`{kind}`" in DOC for kind in EVENT_TYPES)
