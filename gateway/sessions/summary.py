"""The summary of one session (the `input.session` document, without `named_by`), and how an observation
updates it. Pure functions over JSON-ready dicts; bounded by `max_entries` distinct entries per list.

    >>> s = apply(None, Observation(calls=1, target=("tool", "lookup", "bank")), now, 50)  # doctest: +SKIP
    >>> (s["calls"], s["targets"])  # doctest: +SKIP
    (1, [{'kind': 'tool', 'target': 'lookup', 'server': 'bank', 'count': 1}])
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Source = Literal["request", "tool_result", "agent_answer", "model_answer"]
# where what came back came from, by the kind of call (embeddings answer with numbers, never PII)
ANSWER_SOURCES: dict[str, Source] = {"tool": "tool_result", "agent": "agent_answer", "model": "model_answer"}


@dataclass(frozen=True)
class Observation:
    """What one step of one call adds to its session: PII counts by (type, source), the target it called,
    whether it counts as a call, and whether it was denied or held."""

    pii: dict[tuple[str, Source], int] = field(default_factory=dict)
    target: tuple[str, str, str | None] | None = None  # kind, target, server (kind tool only)
    calls: int = 0
    denied: bool = False
    held: bool = False
    injection: dict[str, Any] | None = None  # a scan's `input.injection` (score, where, signals) and `flagged`

    @property
    def empty(self) -> bool:
        return not (self.pii or self.target or self.calls or self.denied or self.held or self.injection)


def stamp(when: datetime) -> str:
    """RFC 3339 with a numeric offset (regopy's `time.parse_rfc3339_ns` rejects a trailing `Z`)."""
    return when.isoformat(timespec="seconds")


def nothing_untrusted() -> dict[str, Any]:
    """A session's `injection` before any untrusted content scored (and for summaries kept before it was)."""
    return {"score": 0.0, "flagged": False, "signals": []}


def empty(now: datetime) -> dict[str, Any]:
    return {
        "calls": 0,
        "first_seen": stamp(now),
        "last_seen": stamp(now),
        "denied": False,
        "held": False,
        "pii": [],
        "targets": [],
        "truncated": False,
        "injection": nothing_untrusted(),
    }


def _count(entries: list[dict[str, Any]], key: dict[str, Any], n: int, limit: int) -> bool:
    """Add `n` to the entry matching `key`, or append it; False when a new entry would pass `limit`."""
    for entry in entries:
        if all(entry.get(k) == v for k, v in key.items()):
            entry["count"] += n
            return True
    if len(entries) >= limit:
        return False
    entries.append({**key, "count": n})
    return True


def apply(before: dict[str, Any] | None, seen: Observation, now: datetime, max_entries: int) -> dict[str, Any]:
    """The summary after `seen` (a new one when `before` is None); `before` is not changed."""
    after = copy.deepcopy(before) if before is not None else empty(now)
    after["calls"] += seen.calls
    after["last_seen"] = stamp(now)
    after["denied"] = after["denied"] or seen.denied
    after["held"] = after["held"] or seen.held
    kept = True
    for (kind, source), n in sorted(seen.pii.items()):
        kept = _count(after["pii"], {"type": kind, "source": source}, n, max_entries) and kept
    if seen.target is not None:
        kind, target, server = seen.target
        kept = _count(after["targets"], {"kind": kind, "target": target, "server": server}, 1, max_entries) and kept
    if seen.injection is not None:
        was = after.get("injection") or nothing_untrusted()
        after["injection"] = {
            "score": max(float(was["score"]), float(seen.injection["score"])),
            "flagged": bool(was["flagged"] or seen.injection.get("flagged")),
            "signals": sorted(set(was["signals"]) | set(seen.injection["signals"]))[:max_entries],
        }
    after["truncated"] = after["truncated"] or not kept
    after["pii"].sort(key=lambda e: (e["type"], e["source"]))
    return after
