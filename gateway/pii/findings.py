"""What inspection found: one `Finding` per value, and the summaries the policy and the audit log see.

Neither holds a raw value: a finding carries the keyed hash of its value (so an investigator holding the
key can match a known value), and its position by where it was found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# where a text was found: who wrote it, in which part of the call
WHERES = (
    "system",
    "user",
    "assistant",
    "tool_result",
    "tool_arguments",
    "input",
    "output",
    "reasoning",
    "other",
    "end_user",
)


@dataclass(frozen=True, slots=True)
class Finding:
    type: str
    where: str
    index: int  # the message (or input, or tool call) it is in, in the call's order
    start: int
    end: int
    score: float
    recognizer: str
    value_hash: str
    segment: int = 0  # which of the call's texts (gateway.pii.segments) it is in

    def record(self) -> dict[str, Any]:
        """For the audit log: everything but the value, which it never holds."""
        return {
            "type": self.type,
            "where": self.where,
            "index": self.index,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 3),
            "hash": self.value_hash,
        }


@dataclass(frozen=True, slots=True)
class Findings:
    items: tuple[Finding, ...] = ()
    truncated: bool = False  # the call held more text than pii.max_chars; the rest was not inspected
    skipped: tuple[str, ...] = field(default=())  # fields that could not be inspected

    def summary(self) -> list[dict[str, Any]]:
        """`input.pii`: one entry per entity type, sorted by type."""
        by_type: dict[str, list[Finding]] = {}
        for item in self.items:
            by_type.setdefault(item.type, []).append(item)
        return [
            {
                "type": kind,
                "count": len(found),
                "max_score": round(max(f.score for f in found), 3),
                "where": sorted({f.where for f in found}),
            }
            for kind, found in sorted(by_type.items())
        ]

    def __add__(self, other: Findings) -> Findings:
        return Findings(self.items + other.items, self.truncated or other.truncated, self.skipped + other.skipped)
