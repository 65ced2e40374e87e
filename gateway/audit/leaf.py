"""An audit event as a leaf of the log's Merkle tree: its canonical JSON and leaf hash.

The same bytes come out whether the event is the writer's dict, a row read back from SQLite or PostgreSQL
(which return timestamps naive or in the session's zone, and floats as they stored them), or a line of an
exported file: timestamps become UTC ISO 8601 with microseconds and a `Z`, numbers are written as RFC 8785
does, and the event's sequence number is part of what is hashed (so a moved row no longer matches).

    >>> from datetime import datetime
    >>> doc = leaf_document({"ts": datetime(2026, 1, 2, 3, 4, 5), "total_ms": 2.0}, seq=7)
    >>> doc["ts"], doc["total_ms"], doc["seq"]
    ('2026-01-02T03:04:05.000000Z', 2.0, 7)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gateway.audit.events import EXPORT_FIELDS
from gateway.audit.merkle import leaf_hash
from gateway.canonical import canonical

LEAF_FIELDS = ["seq", *EXPORT_FIELDS]  # what a leaf covers: every field of the event, and its place


def utc_iso(value: datetime | str) -> str:
    """A timestamp as the log writes it: UTC, microseconds, `Z` (naive values are UTC, as SQLite keeps them)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# added after the log began: in a leaf only when the event has them
OPTIONAL_FIELDS = frozenset({"policy", "session", "injection"})


def leaf_document(event: Mapping[str, Any], seq: int) -> dict[str, Any]:
    doc = {name: event.get(name) for name in EXPORT_FIELDS}
    for name in OPTIONAL_FIELDS:
        if doc[name] is None:
            del doc[name]
    doc["ts"] = utc_iso(event["ts"])
    doc["seq"] = seq
    return doc


def leaf_bytes(event: Mapping[str, Any], seq: int) -> bytes:
    return canonical(leaf_document(event, seq))


def event_leaf(event: Mapping[str, Any], seq: int) -> bytes:
    """The event's leaf hash (32 bytes)."""
    return leaf_hash(leaf_bytes(event, seq))
