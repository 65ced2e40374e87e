"""A candidate policy evaluated beside the enforced one on live traffic (`policy.shadow: DIR`), never enforced.

Each decision's input goes to the candidate once the enforced decision is made, in a task of its own and on a
thread of its own: the call does not wait for it. Where the candidate would have decided otherwise (the same
comparison as replay: allow, hold, what to redact, route) a `shadow` event goes to the audit log with the
input, both answers and how they differ, and `gateway_shadow_disagreements_total{kind}` counts it;
`gateway policy shadow-report` reads them back as a replay report.

    >>> shadow = Shadow.from_dir(Path("candidate"), audit, metrics)  # doctest: +SKIP
    >>> shadow.compare_soon(input_doc, enforced_answer, event)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from gateway.audit.events import AuditEvent
from gateway.audit.inputs import Scrubbers, kept
from gateway.audit.records import AuditLog
from gateway.metrics import Metrics
from gateway.model import new_id
from gateway.policy.embedded import CompiledPolicy, Runtime, compile_source
from gateway.policy.replay import decide, differences
from gateway.policy.source import load_source

log = logging.getLogger("gateway.policy")
MAX_PENDING = 1000  # comparisons waiting at once; past it new ones are dropped (and logged), never queued unbounded


class Shadow:
    def __init__(
        self, program: CompiledPolicy, audit: AuditLog, metrics: Metrics, scrubbers: Scrubbers | None = None
    ) -> None:
        self.program = program
        self.scrubbers = scrubbers  # the kept input is summarised as decisions' are (`audit.keep_input`)
        self.audit = audit
        self.metrics = metrics
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shadow")
        self._pending: set[asyncio.Task[None]] = set()
        self.dropped = 0

    @classmethod
    def from_dir(
        cls,
        directory: Path,
        audit: AuditLog,
        metrics: Metrics,
        scrubbers: Scrubbers | None = None,
        runtime: Runtime = "auto",
    ) -> Shadow:
        return cls(compile_source(load_source(directory), runtime=runtime), audit, metrics, scrubbers)

    @property
    def version(self) -> str:
        return self.program.source.version

    def compare_soon(self, input_doc: dict[str, Any], enforced: dict[str, Any], event: AuditEvent) -> None:
        """Compare the candidate's answer with `enforced` after this call goes on; `event` is the enforced
        decision's audit event (who, what), copied for a disagreement."""
        if enforced.get("error"):  # the engine failed: no answer of the enforced policy to compare
            return
        if len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.warning("shadow policy: %d comparisons dropped (it cannot keep up)", self.dropped)
            return
        task = asyncio.get_running_loop().create_task(self._compare(input_doc, enforced, event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _compare(self, input_doc: dict[str, Any], enforced: dict[str, Any], event: AuditEvent) -> None:
        loop = asyncio.get_running_loop()
        candidate = await loop.run_in_executor(self._thread, decide, self.program, input_doc)
        found = differences(enforced, candidate)
        if not found:
            return
        record = {"input": input_doc, "decision": enforced, "shadow": candidate}
        if self.scrubbers is not None:
            record = kept(record, self.scrubbers, self.audit.keep_input)
        for difference in found:
            self.metrics.shadow_disagreements.labels(difference.kind).inc()
        reasons = [f"{d.kind}: {d.why}" for d in found]
        names: dict[str, Any] = {}
        if self.scrubbers is not None:  # as the log keeps every event: PII in reasons and names as its type
            scrub, name = self.scrubbers
            reasons = [scrub(reason) for reason in reasons]
            names = {k: name(v) for k, v in (("end_user", event.end_user), ("target", event.target)) if v}
            names["request_id"] = name(event.request_id)
        shadow = event.model_copy(
            update={
                **names,
                "event": "shadow",
                "decision_id": new_id(),
                "reasons": reasons,
                "policy_version": self.version,
                "detail": f"enforced decision {event.decision_id} (policy {event.policy_version})",
                "policy": record,
                "latency_ms": {},
                "pii": [],
            }
        )
        await self.audit.write([shadow.row()])

    async def aclose(self) -> None:
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=10)
        self._thread.shutdown(wait=False, cancel_futures=True)
