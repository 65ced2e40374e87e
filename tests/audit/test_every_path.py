"""Every path of the pipeline leaves its audit event (docs/audit.md, "One call leaves"): each test drives one
path through a real gateway and checks the call's events, by the event type and error code the doc names."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from gateway.clock import Clock, FakeClock
from tests.helpers import audit_rows
from tests.hold.reviewer import decide, pending

POLICY = """package gateway

import rego.v1

default decision := {"allow": true, "reasons": [], "hold": null, "redact": [], "route": null}

decision := {"allow": false, "reasons": ["azure is off limits"], "hold": null, "redact": [], "route": null} if {
    input.call.target == "azure-gpt"
}

decision := {
    "allow": true, "reasons": ["claude needs sign-off"], "hold": {"reason": "claude", "approvers": "finance"},
    "redact": [], "route": null,
} if {
    input.call.phase == "request"
    input.call.target == "claude"
}

decision := {"allow": "yes"} if input.call.target == "onprem"  # malformed: the gateway must fail closed

decision := {"allow": true, "reasons": [], "hold": null, "redact": redact, "route": null} if {
    input.call.phase == "request"
    input.call.target == "gpt"
}

redact := sort([t | some t in {f.type | some f in input.pii}])
"""

Events = list[tuple[str, str | None, bool | None, str | None]]  # (event, phase, allow, error_code)


@pytest.fixture
def gw(gateway_factory: Any, sqlite_url: str, tmp_path: Any) -> Any:
    return _gateway(gateway_factory, sqlite_url, tmp_path, timeout_s=30)


def _gateway(factory: Any, url: str, tmp_path: Any, timeout_s: float, clock: Clock | None = None) -> Any:
    (tmp_path / "policy.rego").write_text(POLICY)
    return factory(
        url,
        clock,
        policy={"dir": str(tmp_path), "timeout_ms": 2000},
        approvals={"key_env": "GATEWAY_TEST_APPROVALS_KEY", "poll_s": 0.2, "timeout_s": timeout_s},
    )


def post(gw: Any, body: Any, key: str | None = None, **headers: str) -> httpx.Response:
    auth = {"authorization": f"Bearer {key or gw.key}"}
    content = body if isinstance(body, bytes) else None
    json = None if content is not None else body
    url = f"{gw.url}/v1/chat/completions"
    return httpx.post(url, json=json, content=content, headers={**auth, **headers}, timeout=30)


def chat(model: str, text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def events(gw: Any, wait_for: int) -> Events:
    return [(r["event"], r["phase"], r["allow"], r["error_code"]) for r in rows(gw, wait_for)]


def rows(gw: Any, wait_for: int) -> list[dict[str, Any]]:
    return audit_rows(gw.settings.database_url, wait_for=wait_for)


def in_background(gw: Any, body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: out.setdefault("response", post(gw, body)), daemon=True)
    thread.start()
    out["thread"] = thread
    return out


def answer(out: dict[str, Any]) -> httpx.Response:
    out["thread"].join(timeout=30)
    assert not out["thread"].is_alive(), "the held call did not finish"
    response: httpx.Response = out["response"]
    return response


def test_allowed(gw):
    response = post(gw, chat("echo"))
    assert response.status_code == 200
    assert events(gw, 2) == [("decision", "request", True, None), ("decision", "response", True, None)]
    assert rows(gw, 2)[1]["decision_id"] == response.headers["x-gateway-decision-id"]  # the latest decision


def test_denied_by_policy(gw):
    response = post(gw, chat("azure-gpt"))
    assert response.status_code == 403
    assert events(gw, 1) == [("decision", "request", False, "policy_denied")]
    assert rows(gw, 1)[0]["reasons"] == ["azure is off limits"]


def test_redacted(gw, openai_upstream):
    response = post(gw, chat("gpt", "mail jane.doe@example.com please"))
    assert response.status_code == 200 and "jane.doe@example.com" not in str(openai_upstream[0].received[-1])
    assert events(gw, 3) == [
        ("decision", "request", True, None),
        ("redacted", "request", True, None),
        ("decision", "response", True, None),
    ]
    redacted = rows(gw, 3)[1]
    assert [(p["type"], p["mode"]) for p in redacted["pii"]] == [("EMAIL_ADDRESS", "replace")]
    assert "jane.doe@example.com" not in str(rows(gw, 3))


def test_held_approved_released(gw):
    out = in_background(gw, chat("claude", "approve me"))
    (approval,) = pending(gw.settings)
    decide(gw.settings, approval.approval_id, "approve", "fine")
    assert answer(out).status_code == 200
    assert events(gw, 5) == [
        ("decision", "request", True, None),
        ("held", "request", False, None),
        ("approved", "request", True, None),
        ("released", "request", True, None),
        ("decision", "response", True, None),
    ]
    found = rows(gw, 5)
    assert {r["approval_id"] for r in found[1:]} == {approval.approval_id}  # the request decision precedes it
    assert [r["actor"] for r in found[1:4]] == [None, "fiona", "support-bot"]


def test_rejected(gw):
    out = in_background(gw, chat("claude", "reject me"))
    (approval,) = pending(gw.settings)
    decide(gw.settings, approval.approval_id, "reject", "no")
    assert answer(out).json()["error"]["code"] == "approval_rejected"
    assert events(gw, 4) == [
        ("decision", "request", True, None),
        ("held", "request", False, None),
        ("rejected", "request", False, None),
        ("outcome", "request", False, "approval_rejected"),
    ]
    assert rows(gw, 4)[2]["actor"] == "fiona"


def test_expired(gateway_factory, sqlite_url, tmp_path):
    gw = _gateway(gateway_factory, sqlite_url, tmp_path, timeout_s=300, clock=FakeClock())
    out = in_background(gw, chat("claude", "nobody decides"))
    pending(gw.settings)
    gw.clock.advance(300)
    assert answer(out).json()["error"]["code"] == "approval_expired"
    assert events(gw, 4) == [
        ("decision", "request", True, None),
        ("held", "request", False, None),
        ("expired", "request", False, None),
        ("outcome", "request", False, "approval_expired"),
    ]


def test_fail_closed_on_a_malformed_policy_decision(gw):
    response = post(gw, chat("onprem"))
    assert response.status_code == 403  # a deny to the agent; the audit says why
    assert events(gw, 1) == [("decision", "request", False, "policy_error")]
    row = rows(gw, 1)[0]
    assert row["fail_open"] is False and "malformed" in " ".join(row["reasons"])


def test_upstream_error(gw):
    response = post(gw, chat("all-down"))
    assert response.status_code == 502
    assert events(gw, 2) == [("decision", "request", True, None), ("outcome", "request", False, "upstream_error")]
    outcome = rows(gw, 2)[1]
    assert [(a["provider"], a["status"]) for a in outcome["attempts"]] == [("down", None), ("oai", 500)]


def test_client_gone_mid_stream(gw):
    body = chat("trickle", "long story", stream=True)
    with httpx.stream(
        "POST", f"{gw.url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {gw.key}"}
    ) as response:
        for line in response.iter_lines():
            if "word1" in line:
                break  # leave after two words
    assert events(gw, 2) == [
        ("decision", "request", True, None),
        ("outcome", "request", False, "client_disconnected"),
    ]


def test_bad_key(gw):
    response = post(gw, chat("echo"), key="agk_0000000000000000_not-a-key")
    assert response.status_code == 401
    assert events(gw, 1) == [("decision", "request", False, "invalid_api_key")]
    assert rows(gw, 1)[0]["agent"] is None


def test_bad_body(gw):
    response = post(gw, b'{"model": "echo", "messages": ')
    assert response.status_code == 400
    assert events(gw, 1) == [("decision", "request", False, "invalid_request")]
    assert rows(gw, 1)[0]["agent"] == "support-bot"
