"""Every gateway error renders in every protocol's own error shape, as a response and as a stream event."""

from __future__ import annotations

import json

import pytest

from gateway import errors
from gateway.surfaces.anthropic import WIRE as ANTHROPIC
from gateway.surfaces.openai import WIRE as OPENAI

EXAMPLES = [
    errors.GatewayError("boom"),
    errors.InvalidRequest("messages: field required", "messages"),
    errors.RequestTooLarge("too big"),
    errors.Unauthenticated("unknown or revoked agent key"),
    errors.PolicyDenied(["tool 'x' is risky"], "d1"),
    errors.RouteNotFound("no route"),
    errors.ApprovalNotFound("no such approval for this agent"),
    errors.UpstreamFailed("all down"),
    errors.UpstreamTimedOut("slow"),
    errors.UpstreamRateLimited("429"),
    errors.UpstreamRejected("context too long", 400),
    errors.PolicyEngineError("bad"),
    errors.PolicyUnavailable("down"),
    errors.StoreUnavailable("database down"),
    errors.ApprovalPending({"id": "a1", "reason": "large transfer"}, "d1"),
    errors.ApprovalError("not going ahead", "a1"),
    errors.ApprovalRejected("rejected by bob: wrong recipient", "a1", reason="large transfer", comment="wrong"),
    errors.ApprovalExpired("nobody decided in time", "a1", reason="large transfer"),
    errors.ApprovalRefused("the approval was already used", "a1"),
]


def test_every_error_class_has_an_example():
    classes = {cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.GatewayError)}
    assert classes - {errors.ConfigError} == {type(e) for e in EXAMPLES}


@pytest.mark.parametrize("exc", EXAMPLES, ids=lambda e: type(e).__name__)
def test_openai_shape(exc):
    body = OPENAI.error_payload(exc)
    assert set(body) == {"error"} and body["error"]["message"] == exc.message and body["error"]["code"] == exc.code
    assert body["error"]["type"]
    event = OPENAI.stream_error(exc).decode()
    assert event.startswith("data: ") and event.endswith("\n\n") and json.loads(event[6:]) == body


@pytest.mark.parametrize("exc", EXAMPLES, ids=lambda e: type(e).__name__)
def test_anthropic_shape(exc):
    body = ANTHROPIC.error_payload(exc)
    assert body["type"] == "error" and body["error"]["message"] == exc.message and body["error"]["type"]
    name, data = ANTHROPIC.stream_error(exc).decode().strip().split("\n")
    assert name == "event: error" and json.loads(data[6:]) == body


def test_denials_carry_their_reasons_and_decision_id():
    denied = errors.PolicyDenied(["a", "b"], "dec-1")
    for wire in (OPENAI, ANTHROPIC):
        error = wire.error_payload(denied)["error"]
        assert error["reasons"] == ["a", "b"] and error["decision_id"] == "dec-1"


def test_approval_errors_say_what_was_held_why_and_the_reviewers_reason():
    rejected = errors.ApprovalRejected("rejected", "a1", reason="large transfer", comment="wrong recipient")
    for wire in (OPENAI, ANTHROPIC):
        error = wire.error_payload(rejected)["error"]
        assert error["approval_id"] == "a1" and error["code"] == "approval_rejected"
        assert error["reason"] == "large transfer" and error["comment"] == "wrong recipient"
