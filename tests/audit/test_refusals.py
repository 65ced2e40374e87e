"""Requests refused for a bad or missing key: every one counted in /metrics, but a flood of them adds only a few
rows to the audit log (the first per address and reason a minute, then one summary)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from gateway.app import create_app
from gateway.audit.events import AuditEvent
from gateway.audit.records import AuditLog
from gateway.audit.refusals import RefusalSampler
from gateway.clock import FakeClock
from gateway.settings import Settings
from gateway.store.db import Database
from tests.conftest import POLICIES
from tests.helpers import eventually

BODY = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}


def _refused(surface: str = "openai", reason: str = "unknown or revoked agent key") -> AuditEvent:
    return AuditEvent(decision_id="d", call_id="c", request_id="r", surface=surface, reasons=[reason])


def test_the_first_per_address_and_reason_is_written_and_the_rest_summarized() -> None:
    clock = FakeClock()
    sampler = RefusalSampler(window_s=60, written=3, clock=clock)
    admitted = [sampler.admit(_refused(), "203.0.113.5") for _ in range(4)]
    admitted += [sampler.admit(_refused(reason="missing agent key"), "203.0.113.5")]
    admitted += [sampler.admit(_refused(), "203.0.113.6") for _ in range(2)]
    admitted += [sampler.admit(_refused(), "203.0.113.7")]  # past `written` for this window: counted only
    assert admitted == [True, False, False, False, True, True, False, False]
    assert sampler.take() == []  # the window has not ended
    clock.advance(61)
    (summary,) = sampler.take()
    assert summary.surface == "openai" and summary.event == "decision" and not summary.allow
    assert summary.reasons == [
        "3 requests refused from 203.0.113.5 in the last minute: unknown or revoked agent key",
        "1 requests refused from 203.0.113.6 in the last minute: unknown or revoked agent key",
        "1 requests refused from 203.0.113.7 in the last minute: unknown or revoked agent key",
    ]
    assert sampler.admit(_refused(), "203.0.113.5") is True  # a new window: the first is written again
    assert sampler.take(everything=True) == []  # nothing was held back since


def test_a_flood_from_many_addresses_keeps_memory_and_rows_bounded() -> None:
    sampler = RefusalSampler(window_s=60, written=20)
    admitted = sum(sampler.admit(_refused(), f"10.{i // 65536}.{i // 256 % 256}.{i % 256}") for i in range(30_000))
    assert admitted == 20
    (summary,) = sampler.take(everything=True)
    assert len(summary.reasons) == 21  # the 20 busiest, and one line for the rest
    # past 10,000 addresses counted apart, the others share one count
    reason = "unknown or revoked agent key"
    assert summary.reasons[0] == f"19980 requests refused from other addresses in the last minute: {reason}"
    assert summary.reasons[-1] == "9981 more requests refused from 9981 other sources in the last minute"
    assert (summary.detail or "").startswith("summary: 29980 refused requests")


async def _rows(url: str) -> list[dict[str, Any]]:
    db = Database(url)
    try:
        return [row async for row in AuditLog(db).read()]
    finally:
        await db.aclose()


async def test_a_flood_of_bad_keys_adds_a_bounded_number_of_audit_rows(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/gateway.db"
    settings = Settings.model_validate(
        {"database_url": url, "policy": {"dir": str(POLICIES)}, "pii": {"enabled": False}}
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as agent:
            for i in range(500):
                bad = {"Authorization": f"Bearer agk_not-a-key-{i}"}
                answer = await agent.post("/v1/chat/completions", json=BODY, headers=bad)
                assert answer.status_code == 401
            during = await _rows(url)
            metrics = (await agent.get("/metrics")).text
    assert 'gateway_auth_failures_total{reason="unknown_key",surface="openai"} 500.0' in metrics
    assert len(during) == 1 and during[0]["error_code"] == "invalid_api_key"
    assert during[0]["detail"] == "unknown or revoked agent key; from 203.0.113.7"
    after = await _rows(url)  # the rest, in one summary written at the latest when the gateway stops
    assert len(after) == 2
    assert after[1]["reasons"] == [
        "499 requests refused from 203.0.113.7 in the last minute: unknown or revoked agent key"
    ]
    assert after[1]["error_code"] == "invalid_api_key" and after[1]["surface"] == "openai"


async def test_summaries_are_written_as_each_window_ends(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/gateway.db"
    db = Database(url)
    await db.migrate()
    clock = FakeClock()
    log = AuditLog(db, clock=clock)
    log.refusals = RefusalSampler(window_s=0.2, clock=clock)
    log.start()
    try:
        for _ in range(3):
            await log.refusal(_refused(), "203.0.113.5")
        assert len(await _rows(url)) == 1  # the first; the others wait for the window's end
        clock.advance(0.2)
        rows = await eventually(lambda: _rows(url), lambda rows: len(rows) == 2)
        assert [r["reasons"] for r in rows[1:]] == [
            ["2 requests refused from 203.0.113.5 in the last 0.2 s: unknown or revoked agent key"]
        ]
    finally:
        await log.aclose()
        await db.aclose()
    assert len(await _rows(url)) == 2  # nothing more to summarize at the close
