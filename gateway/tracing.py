"""OpenTelemetry traces: one span per call, one child per pipeline stage, GenAI attributes on model calls.

Spans are exported with OTLP over HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the SDK reads the other
`OTEL_*` variables itself: headers, service name, sampler); otherwise nothing is recorded. Attributes follow
the OpenTelemetry GenAI semantic conventions (`gen_ai.operation.name`, `gen_ai.request.model`,
`gen_ai.usage.input_tokens`, ...) plus `gateway.*` ones. No content, PII or key is ever put on a span.

    >>> tracing = Tracing.from_env({})  # no endpoint: a no-op tracer
    >>> with tracing.tracer.start_as_current_span("x") as span:
    ...     span.is_recording()
    False
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span

from gateway.audit.journal import Journal
from gateway.errors import GatewayError
from gateway.flight import Flight

SERVICE = "agent-governance-gateway"
log = logging.getLogger("gateway.tracing")


class Tracing:
    """The app's tracer provider (one per app, never the global one, so two apps can share a process)."""

    def __init__(self, processor: SpanProcessor | None = None) -> None:
        self.provider: TracerProvider | None = None
        if processor is not None:
            self.provider = TracerProvider(resource=Resource.create({"service.name": SERVICE}))
            self.provider.add_span_processor(processor)
        source = self.provider or trace.NoOpTracerProvider()
        self.tracer = source.get_tracer("gateway")

    @property
    def enabled(self) -> bool:
        """Whether spans are recorded (an exporter is configured)."""
        return self.provider is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Tracing:
        env = os.environ if env is None else env
        if not env.get("OTEL_EXPORTER_OTLP_ENDPOINT") and not env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
            return cls()
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return cls(BatchSpanProcessor(OTLPSpanExporter()))

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()  # flushes what is still queued


def end_span(span: Span, flight: Flight, journal: Journal) -> None:
    """End a call's span with what is known of the call; never raises (the caller is a `finally`)."""
    try:
        if span.is_recording():
            span.set_attributes(call_attributes(flight, journal))
    except Exception:
        log.exception("tracing: describing request %s failed", flight.origin.request_id)
    finally:
        span.end()


def call_attributes(flight: Flight, journal: Journal) -> dict[str, Any]:
    """What a call's span says once it ends: who, what, the decision, and GenAI usage for model calls."""
    attributes: dict[str, Any] = {
        "gateway.surface": flight.origin.surface,
        "gateway.request_id": flight.origin.request_id,
        "gateway.decision_id": journal.decision_id or "",
    }
    if flight.principal is not None:
        attributes["gateway.agent"] = flight.principal.agent
    if journal.error_code:
        attributes["error.type"] = journal.error_code
    if flight.call is not None:
        attributes.update(genai_attributes(flight, journal))
    return attributes


def genai_attributes(flight: Flight, journal: Journal) -> dict[str, Any]:
    if flight.call is None:
        raise GatewayError("internal check failed: flight.call is not None")
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": flight.call.operation,
        "gen_ai.request.model": flight.call.target,
    }
    if journal.provider:
        attributes["gen_ai.provider.name"] = journal.provider
    if journal.upstream_model:
        attributes["gen_ai.response.model"] = journal.upstream_model
    if journal.usage_seen is not None:
        attributes["gen_ai.usage.input_tokens"] = journal.usage_seen.input_tokens
        attributes["gen_ai.usage.output_tokens"] = journal.usage_seen.output_tokens
    return attributes
