"""The console's overview on both stores: per agent counts, denials by reason, holds, PII, tokens and latency
counted once per call, and the governance side's own events left out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.audit.events import AuditEvent
from gateway.audit.overview import overview
from gateway.audit.records import AuditLog
from gateway.model import new_id
from gateway.store.db import Database

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _event(call: str, minute: int, **values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "decision_id": new_id(),
        "call_id": call,
        "request_id": call,
        "ts": T0 + timedelta(minutes=minute),
        "agent": "support-bot",
        "team": "cs",
        "surface": "openai",
        "allow": True,
    }
    return AuditEvent.model_validate({**base, **values}).row()


ROWS = [
    _event("a", 0, pii=[{"type": "PERSON"}, {"type": "EMAIL_ADDRESS"}], total_ms=5),
    _event("a", 0, event="outcome", input_tokens=100, output_tokens=20, total_ms=40),
    _event("b", 1, allow=False, reasons=["tool 'send_wire' is on the risky tools list"], total_ms=2),
    _event("c", 2, tool_calls=["transfer_funds"], total_ms=3),
    _event("c", 2, event="held", reasons=["held: big transfer"]),
    _event("c", 3, event="approved", actor="bob"),
    _event("d", 4, agent="contracts-bot", team="legal", allow=False, reasons=["claude is not for this agent"]),
    _event("e", 5, agent=None, surface="admin", kind="read", target="audit.export", actor="carol"),
    _event("f", 90, agent="late-bot"),  # outside the period
]


async def test_overview_counts_per_agent(database_url: str) -> None:
    db = Database(database_url)
    await db.migrate()
    log = AuditLog(db)
    try:
        await log.write(ROWS)
        report = await overview(db, T0, T0 + timedelta(hours=1))
    finally:
        await log.aclose()
        await db.aclose()
    assert [(a.agent, a.team, a.calls) for a in report.agents] == [
        ("support-bot", "cs", 3),
        ("contracts-bot", "legal", 1),
    ]
    bot = report.agents[0]
    assert dict(bot.denied) == {"tool 'send_wire' is on the risky tools list": 1}
    assert (bot.held, dict(bot.hold_ends)) == (1, {"approved": 1})
    assert dict(bot.pii) == {"PERSON": 1, "EMAIL_ADDRESS": 1}
    assert dict(bot.tools) == {"transfer_funds": 1}
    assert bot.tokens == 120  # call a's, once
    assert (bot.latency(0.5), bot.latency(0.99)) == (3.0, 40.0)
    assert (report.calls, report.denials) == (4, 2)
