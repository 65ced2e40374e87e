"""Every gateway error renders in every protocol's own error shape, as a response and as a stream event, and
nothing but `gateway.rendering` builds an error body."""

from __future__ import annotations

import json
import re

import pytest

from gateway import errors, rendering
from gateway.surfaces.anthropic import WIRE as ANTHROPIC
from gateway.surfaces.openai import WIRE as OPENAI
from tests.test_code_rules import REPO

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
    errors.ApprovalConflict("the approval changed meanwhile; try again", "a1"),
    errors.MethodNotFound("no such method", "method"),
    errors.ProtocolRefused(-32020, "header mismatch", "header_mismatch", http_status=400),
    errors.AccessDenied(429, "rate_limited", "too many tries", retry_after=3),
    errors.NotFound("no endpoint GET /x"),
    errors.MethodNotAllowed("PUT not allowed on /v1/models"),
    errors.ToolWithheld("tool 'x' changed since it was approved"),
    errors.UpstreamRpcError(-32042, "the server said no", {"why": "because"}),
    errors.UnreadableAfterRedaction("the tool's result"),
    errors.NulInInput(),
    errors.HeadersTooLarge("request headers larger than 65536 bytes"),
    errors.ResponseNotFound("no response with id 'resp_x'"),
    errors.PriceUnknown("gpt-5"),
    errors.LimitReached("team=cs", "requests", "1m", 600, 600, 12),
    errors.RateLimited("team=cs", "tokens", "1h", 1_999_000, 2_000_000, 30),
    errors.BudgetExceeded("team=cs", "spend_usd", "month", 499.99, 500.0, 86_400),
    errors.ConcurrencyLimited("team=cs", "calls in flight", None, 20, 20, 1),
]


def test_every_error_class_has_an_example():
    classes = {cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.GatewayError)}
    assert classes - {errors.ConfigError} == {type(e) for e in EXAMPLES}


@pytest.mark.parametrize("exc", EXAMPLES, ids=lambda e: type(e).__name__)
def test_openai_shape(exc):
    body = rendering.openai_body(exc)
    assert set(body) == {"error"} and body["error"]["message"] == exc.message and body["error"]["code"] == exc.code
    assert body["error"]["type"]
    event = OPENAI.stream_error(exc).decode()
    assert event.startswith("data: ") and event.endswith("\n\n") and json.loads(event[6:]) == body


@pytest.mark.parametrize("exc", EXAMPLES, ids=lambda e: type(e).__name__)
def test_anthropic_shape(exc):
    body = rendering.anthropic_body(exc)
    assert body["type"] == "error" and body["error"]["message"] == exc.message and body["error"]["type"]
    name, data = ANTHROPIC.stream_error(exc).decode().strip().split("\n")
    assert name == "event: error" and json.loads(data[6:]) == body


def test_denials_carry_their_reasons_and_decision_id():
    denied = errors.PolicyDenied(["a", "b"], "dec-1")
    for protocol in ("openai", "anthropic"):
        error = rendering.body(protocol, denied)["error"]
        assert error["reasons"] == ["a", "b"] and error["decision_id"] == "dec-1"


def test_approval_errors_say_what_was_held_why_and_the_reviewers_reason():
    rejected = errors.ApprovalRejected("rejected", "a1", reason="large transfer", comment="wrong recipient")
    for protocol in ("openai", "anthropic"):
        error = rendering.body(protocol, rejected)["error"]
        assert error["approval_id"] == "a1" and error["code"] == "approval_rejected"
        assert error["reason"] == "large transfer" and error["comment"] == "wrong recipient"


@pytest.mark.parametrize("protocol", ["mcp", "a2a"])
@pytest.mark.parametrize("exc", EXAMPLES, ids=lambda e: type(e).__name__)
def test_jsonrpc_shape(protocol, exc):
    message = rendering.jsonrpc_error(protocol, 7, exc)
    assert message["jsonrpc"] == "2.0" and message["id"] == 7 and message["error"]["message"] == exc.message
    code = message["error"]["code"]
    if isinstance(exc, errors.UpstreamRpcError | errors.ProtocolRefused):
        assert code == exc.rpc_code  # the upstream's or the protocol's own code, as it came
    else:
        assert isinstance(code, int) and message["error"]["data"]["code"] == exc.code


def test_each_jsonrpc_protocol_has_its_own_codes():
    denied, unknown = errors.PolicyDenied(["no"], "d"), errors.Unauthenticated("who?")
    assert [rendering.jsonrpc_error("mcp", 1, e)["error"]["code"] for e in (denied, unknown)] == [-32003, -32001]
    assert [rendering.jsonrpc_error("a2a", 1, e)["error"]["code"] for e in (denied, unknown)] == [-32050, -32051]


def test_only_the_rendering_module_builds_error_bodies():
    """No other module writes an error body by hand (an `{"error": {"message": ...}}` literal)."""
    pattern = re.compile(r"""\{\s*["']error["']\s*:\s*\{\s*(?!"type": "object")["'](?:message|code|type)["']\s*:""")
    found = [
        f"{path.relative_to(REPO)}"
        for folder in ("gateway", "connectors")
        for path in sorted((REPO / folder).rglob("*.py"))
        if path.name != "rendering.py" and pattern.search(path.read_text())
    ]
    assert not found, f"error bodies built outside gateway/rendering.py: {found}"
