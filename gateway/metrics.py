"""Prometheus metrics, one registry per app (so two apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


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
        self.audit_failures = Counter(
            "gateway_audit_failures",
            "Audit records the store refused (written to the error log)",
            registry=self.registry,
        )

    def decision(self, phase: str, allow: bool, error: str | None, seconds: float) -> None:
        self.decisions.labels(phase, str(allow).lower(), error or "").inc()
        if error:
            self.policy_failures.labels(error).inc()
        self.decision_seconds.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
