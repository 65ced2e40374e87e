"""Prometheus metrics, one registry per app (so two apps can live in one process)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

APPROVAL_OUTCOMES = ("approved", "rejected", "expired")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gateway_requests", "Agent calls by surface and outcome", ["surface", "outcome"], registry=self.registry
        )
        self.decisions = Counter(
            "gateway_decisions", "Policy decisions", ["phase", "allow", "error"], registry=self.registry
        )
        self.policy_failures = Counter(
            "gateway_policy_failures",
            "Engine failures turned into denies (fail closed)",
            ["reason"],
            registry=self.registry,
        )
        self.decision_seconds = Histogram(
            "gateway_decision_seconds",
            "Time to a policy decision",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25, 1.0),
            registry=self.registry,
        )
        self.upstream = Counter(
            "gateway_upstream_attempts",
            "Upstream attempts by provider and outcome",
            ["provider", "outcome"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "gateway_auth_failures",
            "Requests refused for a missing or bad credential (agent key, reviewer password, token or ID token)",
            ["surface", "reason"],
            registry=self.registry,
        )
        self.shadow_disagreements = Counter(
            "gateway_shadow_disagreements",
            "Decisions a shadow policy (policy.shadow) would have made otherwise, by how they differ",
            ["kind"],
            registry=self.registry,
        )
        self.injection_scans = Counter(
            "gateway_injection_scans",
            "Scans of untrusted content for prompt injection (guards.injection), by whether a part was flagged",
            ["flagged"],
            registry=self.registry,
        )
        self.audit_failures = Counter(
            "gateway_audit_failures",
            "Audit records the store refused (written to the error log)",
            registry=self.registry,
        )
        self.audit_anchor_failures = Counter(
            "gateway_audit_anchor_failures",
            "Signed checkpoints that could not be anchored outside the store this time (retried)",
            ["anchor"],
            registry=self.registry,
        )
        self.audit_anchored_size = Gauge(
            "gateway_audit_anchored_size",
            "The tree size of the newest checkpoint each anchor holds (a directory, a witness)",
            ["anchor"],
            registry=self.registry,
            multiprocess_mode="max",
        )
        self.audit_lag = Histogram(
            "gateway_audit_lag_seconds",
            "From a call's events being handed to the audit writer to their commit (the oldest of a batch)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "gateway_stage_seconds",
            "Time spent in each request stage (inspect is PII inspection)",
            ["stage"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0),
            registry=self.registry,
        )
        self.pii_seconds = Histogram(
            "gateway_pii_seconds",
            "Time to inspect one call for PII and secrets",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
            registry=self.registry,
        )

        self._stages: dict[str, Histogram] = {}
        self.approvals = ApprovalsCollector()
        self.registry.register(self.approvals)
        self.usage = UsageCollector()
        self.registry.register(self.usage)
        self.registry.register(LoopCollector())

    def stage(self, name: str, seconds: float) -> None:
        child = self._stages.get(name)
        if child is None:  # each stage's child once: `labels()` takes a lock and builds a key every time
            child = self._stages[name] = self.stage_seconds.labels(name)
        child.observe(seconds)
        if name == "inspect":
            self.pii_seconds.observe(seconds)

    def decision(self, phase: str, allow: bool, error: str | None, seconds: float) -> None:
        self.decisions.labels(phase, str(allow).lower(), error or "").inc()
        if error:
            self.policy_failures.labels(error).inc()
        self.decision_seconds.observe(seconds)

    def injection(self, flagged: bool) -> None:
        self.injection_scans.labels(str(flagged).lower()).inc()

    def render(self) -> bytes:
        """The exposition; under `gateway serve --workers N` (PROMETHEUS_MULTIPROC_DIR set by `serve`) the counters
        and histograms are every worker's, summed, whichever worker answers the scrape."""
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(self.approvals)
        registry.register(self.usage)
        registry.register(LoopCollector())
        return generate_latest(registry)


class LoopCollector(Collector):
    """Tasks alive in the event loop of the worker that answers the scrape (a leak shows as steady growth)."""

    def collect(self) -> Iterator[Metric]:
        tasks = GaugeMetricFamily("gateway_event_loop_tasks", "Tasks alive in this worker's event loop")
        try:
            tasks.add_metric([], len(asyncio.all_tasks()))
        except RuntimeError:  # rendered outside a running loop: no sample
            pass
        yield tasks


class ApprovalsCollector(Collector):
    """Holds pending (from the store: every replica sees the same number, so aggregate with max, not sum) and
    holds this replica decided, by outcome. The metrics endpoint refreshes it just before each scrape."""

    def __init__(self) -> None:
        self.pending: int | None = None  # None until the store was first asked: no sample rather than a 0
        self.decided: Mapping[str, int] = {}

    def update(self, pending: int | None, decided: Mapping[str, int]) -> None:
        if pending is not None:  # the store did not answer: keep the last count
            self.pending = pending
        self.decided = dict(decided)

    def collect(self) -> Iterator[Metric]:
        pending = GaugeMetricFamily("gateway_approvals_pending", "Held calls waiting for a reviewer (from the store)")
        if self.pending is not None:
            pending.add_metric([], self.pending)
        yield pending
        decided = CounterMetricFamily(
            "gateway_approvals_decided", "Holds this replica closed, by outcome", labels=["outcome"]
        )
        for outcome in APPROVAL_OUTCOMES:
            decided.add_metric([outcome], self.decided.get(outcome, 0))
        yield decided


class UsageCollector(Collector):
    """Each limit's counters of the running window (from the store: every replica sees the same values, so
    aggregate with max), refreshed by the metrics endpoint just before each scrape (`gateway.limits.report`)."""

    def __init__(self) -> None:
        self.rows: list[Mapping[str, object]] = []

    def update(self, rows: list[Mapping[str, object]] | None) -> None:
        if rows is not None:  # the store did not answer: keep the last values
            self.rows = rows

    def collect(self) -> Iterator[Metric]:
        labels = ["limit", "subject", "measure"]
        used = GaugeMetricFamily("gateway_limit_used", "Settled usage in the running window", labels=labels)
        reserved = GaugeMetricFamily("gateway_limit_reserved", "Reserved by calls in flight", labels=labels)
        maximum = GaugeMetricFamily("gateway_limit_max", "The limit's maximum in force", labels=labels)
        for row in self.rows:
            key = [str(row["limit"]), str(row["subject"]), str(row["measure"])]
            used.add_metric(key, float(row["used"]))  # type: ignore[arg-type]
            reserved.add_metric(key, float(row["reserved"]))  # type: ignore[arg-type]
            if row["max"] is not None:
                maximum.add_metric(key, float(row["max"]))  # type: ignore[arg-type]
        yield from (used, reserved, maximum)
