"""Held calls end to end through the real SDKs: wait, come back (respond-async), streams, both phases."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import anthropic
import httpx
import openai
import pytest

from gateway.clock import FakeClock
from tests.helpers import audit_rows, track
from tests.hold.reviewer import FINANCE, decide, get, payload, pending

HOLDS = """package gateway

import rego.v1

default decision := {"allow": true, "reasons": [], "hold": null, "redact": [], "route": null}

decision := {
    "allow": true, "reasons": ["model call needs sign-off"], "hold": {"reason": "held model", "approvers": "finance"},
    "redact": [], "route": null,
} if {
    input.call.phase == "request"
    input.call.target in {"gpt", "claude"}
}

decision := {
    "allow": true, "reasons": ["large transfer"], "hold": {"reason": "transfer over 1000", "approvers": "finance"},
    "redact": [], "route": null,
} if {
    input.call.phase == "response"
    some call in input.call.tool_calls
    call.name == "transfer_funds"
}
"""

TRANSFER = [{"role": "user", "content": "please call transfer_funds"}]
TOOLS = [
    {
        "type": "function",
        "function": {"name": "transfer_funds", "parameters": {"type": "object", "properties": {}}},
    }
]


@pytest.fixture
def held_gw(gateway_factory, sqlite_url, tmp_path):
    (tmp_path / "policy.rego").write_text(HOLDS)
    return gateway_factory(
        sqlite_url,
        policy={"dir": str(tmp_path), "timeout_ms": 2000},
        approvals={"key_env": "GATEWAY_TEST_APPROVALS_KEY", "poll_s": 0.2, "keepalive_s": 0.2, "timeout_s": 20},
    )


def oai(gw) -> openai.OpenAI:
    return track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0, timeout=30))


def in_background(work: Any) -> dict[str, Any]:
    """Run `work` in a thread (the agent waiting); the result or the error lands in the returned dict."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = work()
        except Exception as exc:  # the test inspects it
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    out["thread"] = thread
    return out


def finished(out: dict[str, Any]) -> Any:
    out["thread"].join(timeout=30)
    assert not out["thread"].is_alive(), "the held call did not finish"
    if "error" in out:
        raise out["error"]
    return out["result"]


def events(database_url: str, approval_id: str) -> list[str]:
    return [r["event"] for r in audit_rows(database_url) if r["approval_id"] == approval_id]


def call_events(database_url: str, approval_id: str) -> list[str]:
    """Every event of the call an approval was made for (its request decision was written before the hold)."""
    rows = audit_rows(database_url)
    call_id = next(r["call_id"] for r in rows if r["approval_id"] == approval_id)
    return [r["event"] for r in rows if r["call_id"] == call_id]


def test_a_held_call_waits_for_the_reviewer_then_goes_ahead_once(held_gw, openai_upstream):
    sent = len(openai_upstream[0].received)
    out = in_background(
        lambda: oai(held_gw).chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hi"}])
    )
    (approval,) = pending(held_gw.settings)
    assert len(openai_upstream[0].received) == sent  # nothing forwarded before the decision
    assert (approval.reason, approval.approvers, approval.agent) == ("held model", "finance", "support-bot")
    assert payload(held_gw.settings, approval.approval_id)["action"]["request"]["messages"][0]["content"] == "hi"
    decide(held_gw.settings, approval.approval_id, "approve", "fine")
    reply = finished(out)
    assert reply.choices[0].message.content == "openai says: hi"
    assert len(openai_upstream[0].received) == sent + 1
    assert get(held_gw.settings, approval.approval_id).status == "used"
    assert call_events(held_gw.settings.database_url, approval.approval_id) == [
        "decision",  # written ahead: durable before the call was held
        "held",
        "approved",
        "released",
        "decision",  # the response decision, with the call's outcome
    ]


def test_a_rejection_reaches_the_agent_with_the_reviewers_reason(held_gw):
    out = in_background(
        lambda: oai(held_gw).chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hi"}])
    )
    (approval,) = pending(held_gw.settings)
    decide(held_gw.settings, approval.approval_id, "reject", "Wrong recipient")
    with pytest.raises(openai.PermissionDeniedError) as info:
        finished(out)
    error = info.value.body
    assert error["code"] == "approval_rejected" and error["approval_id"] == approval.approval_id
    assert error["comment"] == "Wrong recipient" and error["reason"] == "held model"
    assert "rejected by fiona: Wrong recipient" in error["message"]


def test_nobody_deciding_expires_the_hold(gateway_factory, sqlite_url, tmp_path):
    (tmp_path / "policy.rego").write_text(HOLDS)
    gw = gateway_factory(
        sqlite_url,
        FakeClock(),
        policy={"dir": str(tmp_path), "timeout_ms": 2000},
        approvals={"key_env": "GATEWAY_TEST_APPROVALS_KEY", "poll_s": 0.2, "timeout_s": 300},
    )
    out = in_background(
        lambda: oai(gw).chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hi"}])
    )
    pending(gw.settings)
    gw.clock.advance(300)
    with pytest.raises(openai.PermissionDeniedError) as info:
        finished(out)
    assert info.value.body["code"] == "approval_expired"
    approval_id = info.value.body["approval_id"]
    assert get(gw.settings, approval_id).status == "expired"
    assert "expired" in events(sqlite_url, approval_id)


def test_come_back_later_with_a_single_use_receipt(held_gw, openai_upstream, gateway_factory):
    body = {"model": "gpt", "messages": [{"role": "user", "content": "pay"}]}
    auth = {"authorization": f"Bearer {held_gw.key}"}
    with httpx.Client(base_url=held_gw.url, timeout=30) as http:
        first = http.post("/v1/chat/completions", json=body, headers={**auth, "prefer": "respond-async"})
        assert first.status_code == 202
        approval_id = first.json()["id"]
        assert first.headers["x-gateway-approval"] == approval_id
        status = http.get(first.json()["status_url"], headers=auth)
        assert status.json()["status"] == "pending" and status.json()["reason"] == "held model"
        again = http.post("/v1/chat/completions", json=body, headers={**auth, "prefer": "respond-async"})
        assert again.status_code == 202 and again.json()["id"] == approval_id  # an identical retry: same approval
        decide(held_gw.settings, approval_id, "approve")
        assert http.get(first.json()["status_url"], headers=auth).json()["status"] == "approved"
        sent = len(openai_upstream[0].received)
        altered = {**body, "messages": [{"role": "user", "content": "pay more"}]}
        refused = http.post("/v1/chat/completions", json=altered, headers={**auth, "x-gateway-approval": approval_id})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "approval_refused"
        assert "differs" in refused.json()["error"]["message"]
        done = http.post("/v1/chat/completions", json=body, headers={**auth, "x-gateway-approval": approval_id})
        assert done.status_code == 200, done.text
        assert done.json()["choices"][0]["message"]["content"] == "openai says: pay"
        replay = http.post("/v1/chat/completions", json=body, headers={**auth, "x-gateway-approval": approval_id})
        assert replay.status_code == 403 and "already used" in replay.json()["error"]["message"]
        assert len(openai_upstream[0].received) == sent + 1  # forwarded exactly once
    assert events(held_gw.settings.database_url, approval_id).count("refused") == 2
    reads = [r for r in audit_rows(held_gw.settings.database_url) if r["kind"] == "read" and r["target"] == approval_id]
    assert len(reads) >= 2 and all(r["allow"] and r["surface"] == "openai" for r in reads)  # each look decided


def test_another_agent_cannot_use_or_see_a_receipt(held_gw):
    from tests.conftest import create_key

    other = create_key(held_gw.settings.database_url, agent="intruder")
    body = {"model": "gpt", "messages": [{"role": "user", "content": "pay"}]}
    with httpx.Client(base_url=held_gw.url, timeout=30) as http:
        first = http.post(
            "/v1/chat/completions",
            json=body,
            headers={"authorization": f"Bearer {held_gw.key}", "prefer": "respond-async"},
        )
        approval_id = first.json()["id"]
        decide(held_gw.settings, approval_id, "approve")
        theirs = {"authorization": f"Bearer {other}"}
        looked = http.get(f"/v1/approvals/{approval_id}", headers=theirs)
        assert looked.status_code == 404 and looked.json()["error"]["code"] == "approval_not_found"
        stolen = http.post("/v1/chat/completions", json=body, headers={**theirs, "x-gateway-approval": approval_id})
        assert stolen.status_code == 403 and "another agent" in stolen.json()["error"]["message"]
        unknown = http.post("/v1/chat/completions", json=body, headers={**theirs, "x-gateway-approval": "nope" * 40})
        assert unknown.status_code == 403 and unknown.json()["error"]["code"] == "approval_refused"


def test_a_held_stream_gets_keepalives_then_its_answer(held_gw):
    chunks: list[bytes] = []

    def stream() -> None:
        body = {"model": "gpt", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        headers = {"authorization": f"Bearer {held_gw.key}"}
        with httpx.Client(base_url=held_gw.url, timeout=30) as http:
            with http.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
                assert response.status_code == 200
                for chunk in response.iter_bytes():
                    chunks.append(chunk)

    out = in_background(stream)
    (approval,) = pending(held_gw.settings)
    deadline = time.monotonic() + 5
    while b"keep-alive" not in b"".join(chunks) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert b": keep-alive" in b"".join(chunks)  # proxies see traffic while the reviewer thinks
    decide(held_gw.settings, approval.approval_id, "approve")
    finished(out)
    text = b"".join(chunks).decode()
    data = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
    assert (
        "".join(d["choices"][0]["delta"].get("content") or "" for d in data if d["choices"]).strip()
        == "openai says: hi"
    )
    assert text.rstrip().endswith("data: [DONE]")


@pytest.mark.parametrize("stream", [False, True])
def test_a_tool_call_the_model_asks_for_is_held_then_delivered_once(held_gw, stream):
    def call() -> tuple[str, dict[str, Any]]:
        response = oai(held_gw).chat.completions.create(model="gpt-tool", messages=TRANSFER, tools=TOOLS, stream=stream)
        if not stream:
            tool = response.choices[0].message.tool_calls[0].function
            return tool.name, json.loads(tool.arguments)
        name, arguments = "", ""
        for chunk in response:
            for delta in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
                name += delta.function.name or ""
                arguments += delta.function.arguments or ""
        return name, json.loads(arguments)

    out = in_background(call)
    (approval,) = pending(held_gw.settings)
    assert (approval.phase, approval.tool_calls) == ("response", ["transfer_funds"])
    action = payload(held_gw.settings, approval.approval_id)["action"]
    assert action == {"tool_calls": [{"name": "transfer_funds", "arguments": {"city": "Paris", "amount": 5000}}]}
    decide(held_gw.settings, approval.approval_id, "approve")
    assert finished(out) == ("transfer_funds", {"city": "Paris", "amount": 5000})
    assert get(held_gw.settings, approval.approval_id).status == "used"


def test_a_held_tool_call_comes_back_as_the_stored_answer(held_gw, openai_upstream):
    body = {"model": "gpt-tool", "messages": TRANSFER, "tools": TOOLS}
    auth = {"authorization": f"Bearer {held_gw.key}"}
    with httpx.Client(base_url=held_gw.url, timeout=30) as http:
        first = http.post("/v1/chat/completions", json=body, headers={**auth, "prefer": "respond-async"})
        assert first.status_code == 202 and first.json()["phase"] == "response"
        approval_id = first.json()["id"]
        decide(held_gw.settings, approval_id, "approve")
        sent = len(openai_upstream[0].received)
        done = http.post("/v1/chat/completions", json=body, headers={**auth, "x-gateway-approval": approval_id})
        assert done.status_code == 200, done.text
        assert done.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "transfer_funds"
        assert len(openai_upstream[0].received) == sent  # replayed: the model was not asked again
        again = http.post("/v1/chat/completions", json=body, headers={**auth, "x-gateway-approval": approval_id})
        assert again.status_code == 403 and "already used" in again.json()["error"]["message"]


def test_the_anthropic_sdk_waits_and_gets_its_answer(held_gw):
    client = track(anthropic.Anthropic(base_url=held_gw.url, api_key=held_gw.key, max_retries=0, timeout=30))
    out = in_background(
        lambda: client.messages.create(model="claude", max_tokens=20, messages=[{"role": "user", "content": "hi"}])
    )
    (approval,) = pending(held_gw.settings)
    decide(held_gw.settings, approval.approval_id, "reject", "no")
    with pytest.raises(anthropic.PermissionDeniedError) as info:
        finished(out)
    assert info.value.body["error"]["code"] == "approval_rejected"


def test_a_reviewer_outside_the_group_cannot_decide(held_gw):
    from gateway.approvals.records import Reviewer
    from gateway.errors import ApprovalRefused

    out = in_background(
        lambda: oai(held_gw).chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hi"}])
    )
    (approval,) = pending(held_gw.settings)
    with pytest.raises(ApprovalRefused, match="not in the approvers group"):
        decide(held_gw.settings, approval.approval_id, "approve", who=Reviewer(name="sam", groups=["support"]))
    decide(held_gw.settings, approval.approval_id, "approve", who=FINANCE)
    finished(out)
    assert events(held_gw.settings.database_url, approval.approval_id)[:3] == ["held", "refused", "approved"]
