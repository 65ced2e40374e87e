"""Traces (a span per call and per stage, GenAI attributes, OTLP when configured) and the new metrics."""

from __future__ import annotations

from dataclasses import replace

import httpx
import openai
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.tracing import Tracing
from tests.helpers import track


def test_a_model_call_leaves_a_span_per_stage_with_genai_attributes(gateway):
    exporter = InMemorySpanExporter()
    pipeline = gateway.server.server.config.app.state.pipeline  # services are frozen: a copy with a tracer
    pipeline.services = replace(pipeline.services, tracing=Tracing(SimpleSpanProcessor(exporter)))
    client = track(openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=gateway.key, max_retries=0))
    answer = client.chat.completions.with_raw_response.create(
        model="gpt", messages=[{"role": "user", "content": "hello"}]
    )
    spans = {span.name: span for span in exporter.get_finished_spans()}
    stages = ["authenticate", "parse", "inspect", "decide", "redact", "hold", "route", "forward"]
    assert all(name in spans for name in stages), sorted(spans)
    call = spans["gateway openai"]
    assert all(spans[name].parent is not None and spans[name].parent.span_id == call.context.span_id for name in stages)
    attributes = dict(call.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat" and attributes["gen_ai.request.model"] == "gpt"
    assert attributes["gen_ai.response.model"] == "gpt-test" and attributes["gen_ai.usage.input_tokens"] >= 0
    assert attributes["gateway.decision_id"] == answer.headers["x-gateway-decision-id"]
    assert "hello" not in str([dict(s.attributes or {}) for s in spans.values()])  # never content

    metrics = httpx.get(f"{gateway.url}/metrics").text
    for name in ("gateway_audit_lag_seconds_count", "gateway_pii_seconds_count"):
        assert name in metrics
    assert 'gateway_stage_seconds_count{stage="decide"}' in metrics


def test_otlp_export_is_on_only_when_an_endpoint_is_set():
    assert Tracing.from_env({}).provider is None
    tracing = Tracing.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    try:
        assert tracing.provider is not None
    finally:
        tracing.shutdown()
