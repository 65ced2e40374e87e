"""The audit events of one call: what each decision records, and where the call's outcome goes."""

from __future__ import annotations

from connectors.base import ChatRequest, ToolCall, Usage
from gateway.audit.journal import Journal
from gateway.enforcement import Capabilities, plan
from gateway.model import Attempt, Call, Decision, ModelPayload, Origin, Principal

PRINCIPAL = Principal(agent="bot", team="cs", key_id="k1", end_user="u1")
CALL = Call(
    surface="openai",
    principal=PRINCIPAL,
    request_id="r1",
    payload=ModelPayload(request=ChatRequest(model="gpt", messages=[])),
)


def decided(journal: Journal, decision: Decision, calls: list[ToolCall] | None = None) -> None:
    journal.decided(PRINCIPAL, CALL, decision, plan(decision, Capabilities()), calls or [])


def test_a_rejected_call_is_one_deny_with_what_is_known():
    journal = Journal(Origin(surface="anthropic", request_id="r0", end_user="header-user"))
    journal.failed("invalid_api_key", "unknown or revoked agent key")
    [event] = journal.close(None, None)
    assert (event.event, event.allow, event.phase, event.surface) == ("decision", False, "request", "anthropic")
    assert (event.error_code, event.reasons, event.end_user) == (
        "invalid_api_key",
        ["unknown or revoked agent key"],
        "header-user",
    )
    assert event.agent is None and event.decision_id


def test_an_allowed_call_has_one_event_per_decision_and_the_outcome_on_the_response():
    journal = Journal(Origin(surface="openai", request_id="r1"))
    request = Decision(phase="request", allow=True, policy_version="v1", latency_ms=0.4)
    response = Decision(phase="response", allow=True, policy_version="v1", latency_ms=0.6)
    decided(journal, request)
    journal.attempt(Attempt(provider="down", model="x", error="refused"))
    journal.attempt(Attempt(provider="oai", model="gpt-test", status=200))
    journal.served("oai", "gpt-test", 200)
    journal.usage(Usage(input_tokens=5, output_tokens=7))
    decided(journal, response, [ToolCall(id="1", name="get_weather")])
    first, second = journal.close(PRINCIPAL, CALL)
    assert [first.decision_id, second.decision_id] == [request.decision_id, response.decision_id]
    assert (first.phase, first.tool_calls, first.latency_ms["decide"]) == ("request", [], 0.4)
    assert (second.phase, second.tool_calls, second.latency_ms["decide"]) == ("response", ["get_weather"], 0.6)
    assert (second.provider, second.upstream_model, second.upstream_status) == ("oai", "gpt-test", 200)
    assert [a.provider for a in second.attempts] == ["down", "oai"]
    assert (second.input_tokens, second.output_tokens) == (5, 7)
    assert (first.agent, first.end_user, first.kind, first.target) == ("bot", "u1", "model", "gpt")
    assert first.total_ms == second.total_ms >= 0 and first.call_id == second.call_id


def test_a_failure_after_the_request_decision_is_recorded_on_it():
    journal = Journal(Origin(surface="openai", request_id="r1"))
    decided(journal, Decision(phase="request", allow=True))
    journal.upstream_failed(500)
    journal.failed("upstream_error", "every provider failed")
    [event] = journal.close(PRINCIPAL, CALL)
    assert (event.allow, event.error_code, event.detail, event.upstream_status) == (
        True,
        "upstream_error",
        "every provider failed",
        500,
    )


def test_a_response_denial_is_on_the_response_event_not_the_request_one():
    journal = Journal(Origin(surface="openai", request_id="r1"))
    decided(journal, Decision(phase="request", allow=True))
    decided(journal, Decision(phase="response", allow=False, reasons=["risky tool"]), [ToolCall(id="1", name="x")])
    journal.failed("policy_denied", "denied by policy: risky tool")
    first, second = journal.close(PRINCIPAL, CALL)
    assert (first.error_code, first.detail) == (None, None)
    assert (second.allow, second.error_code, second.reasons) == (False, "policy_denied", ["risky tool"])


def test_a_decision_the_gateway_cannot_carry_out_is_recorded_as_the_deny_it_became():
    journal = Journal(Origin(surface="openai", request_id="r1"))
    decided(journal, Decision(phase="request", allow=True, redact=["US_SSN"]))
    [event] = journal.close(PRINCIPAL, CALL)
    assert event.allow is False and "PII redaction is not enabled" in event.reasons[-1]


def test_a_fail_open_decision_says_so():
    journal = Journal(Origin(surface="openai", request_id="r1"))
    decided(journal, Decision(phase="request", allow=True, fail_open=True, error="policy_unavailable"))
    [event] = journal.close(PRINCIPAL, CALL)
    assert (event.allow, event.fail_open, event.error_code) == (True, True, "policy_unavailable")


def test_rows_carry_every_exported_column():
    from gateway.audit.events import EXPORT_FIELDS

    journal = Journal(Origin(surface="openai", request_id="r1"))
    journal.failed("invalid_request", "bad body")
    row = journal.close(None, None)[0].row()
    assert set(row) == set(EXPORT_FIELDS)
