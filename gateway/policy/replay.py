"""What a policy change would change: a candidate policy evaluated on the inputs of recorded decisions.

Each decision keeps the input its policy saw and what the policy answered (`audit_events.policy`). `replay`
reads them in batches of the log's order (a short read transaction each: the live gateway never waits on it),
asks the candidate, and sorts every difference into a group: allow->deny, deny->allow, hold added or removed,
a type to redact added or removed, route changed, each by the reason (or rule's answer) that made it, with
counts by agent and by target and a few examples' decision ids. Shadow evaluation (`policy.shadow`) records
the same differences as they happen, and `shadow_report` reads them back into the same report.

    >>> report = await replay(db, load_source(Path("candidate")), Scope(agent="support-bot"))  # doctest: +SKIP
    >>> report.changed  # doctest: +SKIP
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from gateway.audit.journal import answer
from gateway.errors import PolicyEngineError
from gateway.model import Decision
from gateway.policy.embedded import CompiledPolicy, Runtime, compile_source
from gateway.policy.source import PolicySource
from gateway.store.db import Database
from gateway.store.tables import AuditEventRow

BATCH = 1000  # rows read per short transaction
EVALUATE_AT_ONCE = 200  # inputs evaluated in one call into the engine


@dataclass(frozen=True)
class Scope:
    since: datetime | None = None
    until: datetime | None = None
    agent: str | None = None
    team: str | None = None
    phase: str | None = None


@dataclass(frozen=True)
class Difference:
    kind: str  # allow->deny, deny->allow, hold added, hold removed, redact added, redact removed, route changed
    why: str  # the reason, type or route that makes it


def differences(recorded: dict[str, Any], candidate: dict[str, Any]) -> list[Difference]:
    """How the candidate's answer differs from the recorded one, as enforced decisions differ."""
    out = []
    if recorded.get("allow") and not candidate.get("allow"):
        out.append(Difference("allow->deny", "; ".join(sorted(candidate.get("reasons") or [])) or "(no reason)"))
    elif not recorded.get("allow") and candidate.get("allow"):
        out.append(Difference("deny->allow", "; ".join(sorted(recorded.get("reasons") or [])) or "(no reason)"))
    held, holds = recorded.get("hold"), candidate.get("hold")
    if held is None and holds is not None:
        out.append(Difference("hold added", str(holds.get("reason", ""))))
    elif held is not None and holds is None:
        out.append(Difference("hold removed", str(held.get("reason", ""))))
    before, after = set(recorded.get("redact") or []), set(candidate.get("redact") or [])
    out += [Difference("redact added", kind) for kind in sorted(after - before)]
    out += [Difference("redact removed", kind) for kind in sorted(before - after)]
    if recorded.get("route") != candidate.get("route"):
        out.append(Difference("route changed", f"{recorded.get('route')} -> {candidate.get('route')}"))
    return out


@dataclass
class Report:
    """Differences grouped (kind, why), with counts by agent and target and up to `show` examples each."""

    show: int = 3
    seen: int = 0
    skipped: int = 0  # recorded decisions the engine failed on: the policy gave no answer to compare with
    changed: int = 0
    groups: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    agents: dict[tuple[str, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    targets: dict[tuple[str, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, row: dict[str, Any], found: Iterable[Difference]) -> None:
        self.seen += 1
        found = list(found)
        if found:
            self.changed += 1
        for difference in found:
            key = (difference.kind, difference.why)
            self.groups[key] += 1
            self.agents[key][row.get("agent") or "-"] += 1
            self.targets[key][row.get("target") or "-"] += 1
            if len(self.examples[key]) < self.show:
                self.examples[key].append(row["decision_id"])

    def document(self) -> dict[str, Any]:
        kinds: Counter[str] = Counter()
        for (kind, _), count in self.groups.items():
            kinds[kind] += count
        groups = [
            {
                "kind": kind,
                "why": why,
                "count": count,
                "agents": dict(self.agents[(kind, why)].most_common()),
                "targets": dict(self.targets[(kind, why)].most_common()),
                "examples": self.examples[(kind, why)],
            }
            for (kind, why), count in sorted(self.groups.items(), key=lambda item: (-item[1], item[0]))
        ]
        return {
            "decisions": self.seen,
            "changed": self.changed,
            "skipped": self.skipped,
            "by_kind": dict(kinds),
            "groups": groups,
        }


def scoped(query: Select[Any], scope: Scope) -> Select[Any]:
    """`query` of audit events, limited to `scope`."""
    t = AuditEventRow
    if scope.since is not None:
        query = query.where(t.ts >= scope.since)
    if scope.until is not None:
        query = query.where(t.ts < scope.until)
    for name in ("agent", "team", "phase"):
        if getattr(scope, name) is not None:
            query = query.where(getattr(t, name) == getattr(scope, name))
    return query


async def recorded(
    db: Database, scope: Scope, events: tuple[str, ...] = ("decision",)
) -> AsyncIterator[dict[str, Any]]:
    """Recorded decisions with their kept policy input, in log order, a batch per short read."""
    t = AuditEventRow
    columns = (t.id, t.decision_id, t.agent, t.target, t.phase, t.policy)
    after = 0
    while True:
        query = scoped(select(*columns).where(t.id > after, t.event.in_(events), t.policy.is_not(None)), scope)
        async with db.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(t.id).limit(BATCH))).all()
        if not rows:
            return
        for row in rows:
            yield {"decision_id": row.decision_id, "agent": row.agent, "target": row.target, "policy": row.policy}
        after = rows[-1].id


async def replay(
    db: Database,
    candidate: PolicySource,
    scope: Scope,
    show: int = 3,
    progress: Callable[[int], None] | None = None,
    runtime: Runtime = "auto",
) -> Report:
    """Evaluate `candidate` on every recorded decision in `scope`; what it would change."""
    program = compile_source(candidate, runtime=runtime)
    report = Report(show=show)
    batch: list[dict[str, Any]] = []
    async for row in recorded(db, scope):
        if row["policy"].get("decision", {}).get("error"):
            report.skipped += 1
            continue
        batch.append(row)
        if len(batch) == EVALUATE_AT_ONCE:
            _compare(program, batch, report, progress)
            batch = []
    _compare(program, batch, report, progress)
    return report


def _compare(
    program: CompiledPolicy, rows: list[dict[str, Any]], report: Report, progress: Callable[[int], None] | None
) -> None:
    """Each row's recorded answer against `program`'s (a failure denies, as it would live)."""
    inputs = [row["policy"]["input"] for row in rows]
    for row, mine in zip(rows, decide_many(program, inputs), strict=True):
        report.add(row, differences(row["policy"]["decision"], mine))
    if progress is not None and rows:
        progress(len(rows))


def decide_many(program: CompiledPolicy, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`decide` on each input; in one evaluation where the runtime can (opa-go), else one by one."""
    many = getattr(program, "evaluate_many", None)
    if many is None or not inputs:
        return [decide(program, doc) for doc in inputs]
    try:
        raws = many(inputs)
    except PolicyEngineError:  # one of them failed: find which, one by one
        return [decide(program, doc) for doc in inputs]
    version = program.source.version
    return [
        answer(
            Decision.from_document(raw, phase=(doc.get("call") or {}).get("phase", "request"), policy_version=version)
        )
        for raw, doc in zip(raws, inputs, strict=True)
    ]


def decide(program: CompiledPolicy, input_doc: dict[str, Any]) -> dict[str, Any]:
    """`program`'s answer on `input_doc`, as the gateway reads it (a failure: an answer with `error`)."""
    phase = (input_doc.get("call") or {}).get("phase", "request")
    try:
        raw = program.evaluate(input_doc)
    except PolicyEngineError as exc:
        return answer(Decision.failed(phase, "policy_error", exc.message, program.source.version))
    return answer(Decision.from_document(raw, phase=phase, policy_version=program.source.version))


async def shadow_report(db: Database, scope: Scope, show: int = 3) -> Report:
    """The disagreements shadow evaluation recorded, as a replay report (the enforced answer, then the shadow's)."""
    report = Report(show=show)
    async for row in recorded(db, scope, events=("shadow",)):
        kept = row["policy"]
        report.add(row, differences(kept["decision"], kept["shadow"]))
    return report
