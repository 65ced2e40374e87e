"""Every stored column of an audit event is evidence: it is in the leaf (so changing it breaks the tree), or it
is derived, each with its reason. A column added to the table outside the tree fails here."""

from __future__ import annotations

from gateway.audit.events import AuditEvent
from gateway.audit.leaf import LEAF_FIELDS
from gateway.store.tables import AuditEventRow

DERIVED = {
    "id": "the row's storage key: order is `seq`, which the leaf covers",
    "leaf_hash": "the leaf itself: SHA-256 of the canonical JSON of the leaf fields",
}


def test_every_column_is_in_the_leaf_or_derived_with_a_reason():
    columns = {column.key for column in AuditEventRow.__table__.columns}
    outside = columns - set(LEAF_FIELDS) - set(DERIVED)
    assert not outside, f"audit columns outside the tree (add them to the leaf, or to DERIVED with a reason): {outside}"
    assert set(LEAF_FIELDS) <= columns, f"leaf fields with no column: {set(LEAF_FIELDS) - columns}"
    assert set(DERIVED) <= columns


def test_every_field_of_an_event_is_stored_and_hashed():
    fields = set(AuditEvent.model_fields)
    assert fields <= set(LEAF_FIELDS), f"event fields the leaf does not cover: {fields - set(LEAF_FIELDS)}"
