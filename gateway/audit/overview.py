"""The activity console's overview (`/ui/overview`): per agent, for a period, what the audit log says they did.

One pass over the period's events (streamed, in log order), counted per agent and team: calls (request
decisions), denials by reason, holds and how they ended, PII findings by type, tokens and spend (at the
configured `prices`), latency percentiles and top tools. A call's tokens and latency are its largest on any of
its events (the outcome's, when there is one), so a call is never counted twice. The governance side's own
events (exports, reviewers' refusals) are left out.

    report = await overview(db, since, until)
    report.agents[0].calls, report.agents[0].latency(0.95)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from gateway.limits.config import Price
from gateway.store.db import Database
from gateway.store.tables import AuditEventRow

t = AuditEventRow
COLUMNS = [
    t.agent, t.team, t.call_id, t.event, t.phase, t.allow, t.reasons, t.pii, t.tool_calls,
    t.input_tokens, t.output_tokens, t.total_ms, t.target, t.upstream_model,
]  # fmt: skip
HOLD_ENDS = ("approved", "rejected", "expired")
# the governance side's own events (exports, reviewers' refusals, the CLI's): not an agent's activity
OPERATOR_SURFACES = ("admin", "approvals", "cli")


@dataclass
class AgentActivity:
    """One agent's (and team's) period."""

    agent: str
    team: str
    calls: int = 0
    denied: Counter[str] = field(default_factory=Counter)  # by reason
    held: int = 0
    hold_ends: Counter[str] = field(default_factory=Counter)  # approved, rejected, expired
    redacted: int = 0
    pii: Counter[str] = field(default_factory=Counter)  # findings by type
    tools: Counter[str] = field(default_factory=Counter)
    per_call: dict[str, tuple[int, float]] = field(default_factory=dict)  # call id: (tokens, latency ms)
    spent: dict[str, float] = field(default_factory=dict)  # call id: US dollars, for calls with a known price
    prices: Mapping[str, Price] = field(default_factory=dict, repr=False)

    @property
    def denials(self) -> int:
        return sum(self.denied.values())

    @property
    def tokens(self) -> int:
        return sum(tokens for tokens, _ in self.per_call.values())

    @property
    def spend(self) -> float:
        """US dollars at the configured prices (`prices`, by route alias or model); calls without one count 0."""
        return sum(self.spent.values())

    def latency(self, quantile: float) -> float | None:
        """The call latency (ms) at `quantile` (nearest rank), or None without calls."""
        times = sorted(ms for _, ms in self.per_call.values())
        return times[min(len(times) - 1, int(quantile * len(times)))] if times else None

    def add(self, row: Any) -> None:
        if row.event == "decision" and row.phase == "request":
            self.calls += 1
        if row.event == "decision" and not row.allow:
            self.denied.update(row.reasons or ["(no reason given)"])
        self.held += row.event == "held"
        self.redacted += row.event == "redacted"
        if row.event in HOLD_ENDS:
            self.hold_ends[row.event] += 1
        if row.event == "decision":
            self.pii.update(str(p.get("type", "?")) for p in row.pii or [])
            self.tools.update(row.tool_calls or [])
        tokens, ms = self.per_call.get(row.call_id, (0, 0.0))
        spent = (row.input_tokens or 0) + (row.output_tokens or 0)
        self.per_call[row.call_id] = (max(tokens, spent), max(ms, row.total_ms or 0.0))
        price = self.prices.get(row.target or "") or self.prices.get(row.upstream_model or "")
        if price is not None and spent:
            dollars = ((row.input_tokens or 0) * price.input + (row.output_tokens or 0) * price.output) / 1_000_000
            self.spent[row.call_id] = max(self.spent.get(row.call_id, 0.0), dollars)


@dataclass
class Overview:
    since: datetime
    until: datetime
    agents: list[AgentActivity]

    @property
    def calls(self) -> int:
        return sum(a.calls for a in self.agents)

    @property
    def denials(self) -> int:
        return sum(a.denials for a in self.agents)

    @property
    def pii(self) -> Counter[str]:
        return sum((a.pii for a in self.agents), Counter())


async def overview(
    db: Database, since: datetime, until: datetime, prices: Mapping[str, Price] | None = None
) -> Overview:
    """Every agent's activity from `since` (inclusive) to `until` (exclusive), busiest first; spend at `prices`."""
    found: dict[tuple[str, str], AgentActivity] = {}
    query = select(*COLUMNS).where(t.ts >= since, t.ts < until, t.surface.not_in(OPERATOR_SURFACES)).order_by(t.seq)
    async with db.engine.connect() as conn:
        result = await conn.stream(query.execution_options(yield_per=2000))
        async for row in result:
            key = (row.agent or "(no agent)", row.team or "")
            if key not in found:
                found[key] = AgentActivity(*key, prices=prices or {})
            found[key].add(row)
    agents = sorted(found.values(), key=lambda a: (-a.calls, a.agent))
    return Overview(since, until, agents)
