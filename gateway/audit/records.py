"""Audit records: built from a finished call's trace (one per decision), written, read back for export."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.metrics import Metrics
from gateway.model import Decision, Trace
from gateway.store.db import Database
from gateway.store.tables import AuditEvent

log = logging.getLogger("gateway.audit")

EXPORT_FIELDS = [
    "ts",
    "decision_id",
    "call_id",
    "request_id",
    "agent",
    "team",
    "key_id",
    "end_user",
    "surface",
    "kind",
    "target",
    "phase",
    "allow",
    "reasons",
    "error_code",
    "fail_open",
    "policy_version",
    "provider",
    "upstream_model",
    "upstream_status",
    "attempts",
    "tool_calls",
    "input_tokens",
    "output_tokens",
    "latency_ms",
    "total_ms",
    "detail",
]


def _rejection(trace: Trace) -> Decision:
    """A call that never reached the policy (bad key, bad body) is still a decision: the gateway's deny."""
    return Decision(phase="request", allow=False, reasons=[trace.error or "rejected"], error=trace.error_code)


def build_events(trace: Trace) -> list[dict[str, Any]]:
    decisions = trace.decisions or [_rejection(trace)]
    call, principal = trace.call, trace.principal
    total_ms = round((time.time() - trace.started) * 1000, 3)
    events = []
    for decision in decisions:
        # upstream facts and the call's error belong to the response decision, or to the only one there is
        upstream = decision.phase == "response" or len(decisions) == 1
        events.append(
            dict(
                decision_id=decision.decision_id,
                call_id=trace.call_id,
                request_id=trace.inbound.request_id,
                ts=datetime.fromtimestamp(trace.started, UTC),
                agent=principal.agent if principal else None,
                team=principal.team if principal else None,
                key_id=principal.key_id if principal else None,
                end_user=principal.end_user if principal else trace.inbound.end_user,
                surface=trace.inbound.surface,
                kind=call.kind if call else "model",
                target=call.target if call else None,
                phase=decision.phase,
                allow=decision.allow,
                reasons=decision.reasons,
                error_code=decision.error or (trace.error_code if upstream else None),
                fail_open=decision.fail_open,
                policy_version=decision.policy_version or None,
                provider=trace.provider,
                upstream_model=trace.upstream_model,
                upstream_status=trace.upstream_status,
                attempts=[a.model_dump() for a in trace.attempts],
                tool_calls=[t.name for t in trace.tool_calls] if decision.phase == "response" else [],
                input_tokens=trace.input_tokens,
                output_tokens=trace.output_tokens,
                latency_ms={**trace.timer.stages, "decide": decision.latency_ms},
                total_ms=total_ms,
                detail=trace.error if upstream else None,
            )
        )
    return events


class AuditLog:
    """Writes audit rows with group commit and reads them back.

    `write` returns once the rows are committed. Calls that arrive while a commit is running are written
    together in the next one, by a single writer, so concurrent calls never contend for SQLite's lock and a
    burst costs one transaction instead of one each. Rows that cannot be stored after retries are written
    to the error log as JSON (they hold no raw content or PII) and counted, never silently dropped.
    """

    def __init__(self, db: Database, metrics: Metrics | None = None, retries: int = 3) -> None:
        self.db = db
        self.metrics = metrics
        self.retries = retries
        self._pending: list[tuple[list[dict[str, Any]], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._conn: AsyncConnection | None = None  # the writer's own connection: no pool round trip per batch

    async def write(self, rows: list[dict[str, Any]]) -> None:
        done = asyncio.get_running_loop().create_future()
        self._pending.append((rows, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        await asyncio.shield(done)

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            await self._commit([row for rows, _ in batch for row in rows])
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def _commit(self, rows: list[dict[str, Any]]) -> None:
        for attempt in range(self.retries + 1):
            try:
                if self._conn is None:
                    self._conn = await self.db.engine.connect()
                async with self._conn.begin():
                    await self._conn.execute(insert(AuditEvent), rows)
                return
            except SQLAlchemyError as exc:
                await self._drop_connection()
                if attempt == self.retries:
                    self._spill(rows, exc)
                    return
                await asyncio.sleep(0.05 * 2**attempt)

    def _spill(self, rows: list[dict[str, Any]], exc: Exception) -> None:
        if self.metrics:
            self.metrics.audit_failures.inc(len(rows))
        for row in rows:
            log.error("audit record not stored (%s): %s", type(exc).__name__, json.dumps(row, default=str))

    async def _drop_connection(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(SQLAlchemyError):
                await conn.close()

    async def aclose(self) -> None:
        """Wait for rows already handed over (called at shutdown), then release the writer's connection."""
        if self._writer is not None:
            await self._writer
        await self._drop_connection()

    async def read(self, since: datetime | None = None, until: datetime | None = None) -> AsyncIterator[dict[str, Any]]:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if since:
            query = query.where(AuditEvent.ts >= since)
        if until:
            query = query.where(AuditEvent.ts < until)
        async with self.db.sessions() as session:
            rows = await session.stream_scalars(query.execution_options(yield_per=1000))  # not all in memory
            async for row in rows:
                yield as_dict(row)


def as_dict(row: AuditEvent) -> dict[str, Any]:
    out = {name: getattr(row, name) for name in EXPORT_FIELDS}
    ts = out["ts"]
    out["ts"] = (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).isoformat()
    return out
