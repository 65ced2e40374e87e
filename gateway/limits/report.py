"""Usage as people read it (`gateway usage`, `/admin/api/usage`, the metrics): each counter of a window now
running, with its limit's maximum in force, in the limit's own units (calls, tokens, US dollars).

    >>> rows = await usage_rows(limiter, agent="support-bot")  # doctest: +SKIP
    >>> rows[0]["remaining"]  # doctest: +SKIP
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.audit.events import AuditEvent
from gateway.limits.config import LimitConfig
from gateway.limits.limiter import Limiter
from gateway.model import new_id

NANO = 1_000_000_000
MEASURES = ("requests", "tokens", "spend", "concurrent")


def _maximum(limit: LimitConfig | None, measure: str) -> tuple[int | None, str | None]:
    """The limit's maximum for `measure` in counter units (nano-dollars for spend), and its window."""
    if limit is None:
        return None, None
    if measure == "requests" and limit.requests:
        return limit.requests.max, limit.requests.per
    if measure == "tokens" and limit.tokens:
        return limit.tokens.max, limit.tokens.per
    if measure == "spend" and limit.spend_usd:
        return int(round(limit.spend_usd.max * NANO)), limit.spend_usd.per
    if measure == "concurrent" and limit.concurrent:
        return limit.concurrent, None
    return None, None


def _wanted(subject: str, agent: str | None, team: str | None) -> bool:
    fields = set(subject.split(","))
    return (agent is None or f"agent={agent}" in fields) and (team is None or f"team={team}" in fields)


async def usage_rows(
    limiter: Limiter, agent: str | None = None, team: str | None = None, limit: str | None = None
) -> list[dict[str, Any]]:
    """The counters of running windows (and calls in flight), filtered by the subject's agent and team."""
    configured = {c.label: c for c in limiter.limits.limits}
    out = []
    for row in await limiter.counters(limit):
        if not _wanted(row.subject, agent, team):
            continue
        maximum, per = _maximum(configured.get(row.limit_name), row.measure)
        scale = NANO if row.measure == "spend" else 1
        remaining = None if maximum is None else max(0, maximum - row.used - row.reserved)
        out.append(
            {
                "limit": row.limit_name,
                "subject": row.subject,
                "measure": "spend_usd" if row.measure == "spend" else row.measure,
                "per": per,
                "window_start": _iso(row.window_start),
                "window_end": _iso(row.window_end),
                "used": row.used / scale if scale > 1 else row.used,
                "reserved": row.reserved / scale if scale > 1 else row.reserved,
                "max": None if maximum is None else (maximum / scale if scale > 1 else maximum),
                "remaining": None if remaining is None else (remaining / scale if scale > 1 else remaining),
                "configured": row.limit_name in configured,
            }
        )
    return out


def _iso(seconds: int) -> str | None:
    return datetime.fromtimestamp(seconds, UTC).isoformat() if seconds else None


def adjusted(
    actor: str, surface: str, limit: str, subject: str, measure: str, before: float, after: float
) -> AuditEvent:
    """The audit event of a reset or an adjustment: who changed which counter, from what to what."""
    return AuditEvent(
        decision_id=new_id(),
        call_id=new_id(),
        request_id=new_id(),
        surface=surface,
        kind="admin",
        target=f"usage.{limit}"[:200],
        allow=True,
        actor=actor[:200],
        reasons=[f"usage of {limit!r} for {subject} ({measure}) set from {before:g} to {after:g}"],
    )
