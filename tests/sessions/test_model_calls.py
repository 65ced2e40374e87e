"""Sessions on model calls (Chat Completions with `X-Gateway-Session`, through the openai SDK): the policy sees
what earlier calls of the session saw, other sessions and other agents do not, and an idle session expires."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import openai
import pytest

from gateway.clock import FakeClock
from gateway.sessions.store import SessionStore
from gateway.settings import SessionsConfig
from gateway.store.db import Database
from tests.conftest import create_key
from tests.helpers import audit_rows, track, wait_until

POLICY = """package gateway

import rego.v1

decision := {
    "allow": count(deny) == 0, "reasons": sort([r | some r in deny]), "hold": null, "redact": [], "route": null,
}

deny contains "a model answer of this session held PII" if {
    input.call.phase == "request"
    some p in input.session.pii
    p.source == "model_answer"
}

deny contains concat("", [
    "seen: ", input.session.named_by, " calls=", format_int(input.session.calls, 10),
    " denied=", json.marshal(input.session.denied),
    " targets=", concat(",", [t.target | some t in input.session.targets]),
]) if input.call.target == "claude"
"""


@pytest.fixture
def gw(gateway_factory: Any, sqlite_url: str, tmp_path: Path) -> Any:
    (tmp_path / "policy.rego").write_text(POLICY)
    return gateway_factory(sqlite_url, policy={"dir": str(tmp_path), "timeout_ms": 2000})


def client(gw: Any, session: str | None, key: str | None = None) -> openai.OpenAI:
    headers = {"X-Gateway-Session": session} if session else {}
    return track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key or gw.key, max_retries=0, default_headers=headers))


def ask(gw: Any, session: str | None, model: str, key: str | None = None) -> str:
    reply = client(gw, session, key).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hello"}]
    )
    return reply.choices[0].message.content or ""


def summary(gw: Any, session: str, agent: str = "support-bot") -> dict[str, Any] | None:
    async def read() -> dict[str, Any] | None:
        db = Database(gw.settings.database_url)
        try:
            return await SessionStore(db, SessionsConfig()).read(agent, ("header", session))
        finally:
            await db.aclose()

    return asyncio.run(read())


def test_a_later_call_sees_what_an_earlier_answer_carried(gw: Any) -> None:
    assert "ops@leaky-corp.com" in ask(gw, "s1", "gpt-leak")  # allowed: nothing was seen before
    with pytest.raises(openai.PermissionDeniedError) as denied:
        ask(gw, "s1", "gpt")
    assert denied.value.body["reasons"] == ["a model answer of this session held PII"]
    assert ask(gw, "s2", "gpt")  # another session of the same agent
    assert ask(gw, None, "gpt")  # no session at all
    with pytest.raises(openai.PermissionDeniedError) as seen:
        ask(gw, "s1", "claude")
    assert "seen: header calls=2 denied=true targets=gpt-leak,gpt" in seen.value.body["reasons"]
    rows = audit_rows(gw.settings.database_url)
    refused = [r for r in rows if r["target"] == "gpt" and not r["allow"]]
    assert [r["reasons"] for r in refused] == [["a model answer of this session held PII"]]


def test_the_summary_keeps_types_and_names_never_values(gw: Any) -> None:
    ask(gw, "kept", "gpt-leak")
    kept = summary(gw, "kept")
    assert kept is not None and kept["calls"] == 1
    assert {(p["type"], p["source"]) for p in kept["pii"]} >= {("EMAIL_ADDRESS", "model_answer")}
    assert kept["targets"] == [{"kind": "model", "target": "gpt-leak", "server": None, "count": 1}]
    assert "leaky-corp" not in json.dumps(kept) and "4111" not in json.dumps(kept)


def test_a_streamed_answer_is_remembered_when_the_stream_ends(gw: Any) -> None:
    stream = client(gw, "streamed").chat.completions.create(
        model="gpt-leak", messages=[{"role": "user", "content": "hello"}], stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert "ops@leaky-corp.com" in text
    # the SDK stops at [DONE]; the gateway records the stream as it closes
    wait_until(lambda: (summary(gw, "streamed") or {}).get("pii"), timeout_s=5)
    with pytest.raises(openai.PermissionDeniedError):
        ask(gw, "streamed", "gpt")


def test_another_agent_with_the_same_session_name_is_not_affected(gw: Any) -> None:
    ask(gw, "shared", "gpt-leak")
    intern = create_key(gw.settings.database_url, agent="intern")
    assert ask(gw, "shared", "gpt", key=intern)  # the intern's "shared" is its own session
    with pytest.raises(openai.PermissionDeniedError):
        ask(gw, "shared", "gpt")
    theirs = summary(gw, "shared", agent="intern")
    assert theirs is not None and theirs["pii"] == [] and theirs["calls"] == 1


def test_a_session_name_the_gateway_cannot_take_is_refused(gw: Any) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        ask(gw, "x" * 201, "gpt")
    assert refused.value.body["param"] == "X-Gateway-Session"


def test_an_idle_session_is_forgotten(gateway_factory: Any, sqlite_url: str, tmp_path: Path) -> None:
    (tmp_path / "policy.rego").write_text(POLICY)
    policy = {"dir": str(tmp_path), "timeout_ms": 2000}
    gw = gateway_factory(sqlite_url, FakeClock(), policy=policy, sessions={"ttl_s": 600})
    ask(gw, "brief", "gpt-leak")
    with pytest.raises(openai.PermissionDeniedError):
        ask(gw, "brief", "gpt")
    gw.clock.advance(600)
    assert ask(gw, "brief", "gpt")  # expired: a new session, nothing seen before


def test_sessions_can_be_turned_off(gateway_factory: Any, sqlite_url: str, tmp_path: Path) -> None:
    (tmp_path / "policy.rego").write_text(POLICY)
    gw = gateway_factory(sqlite_url, policy={"dir": str(tmp_path), "timeout_ms": 2000}, sessions={"enabled": False})
    ask(gw, "off", "gpt-leak")
    assert ask(gw, "off", "gpt")
    assert summary(gw, "off") is None


def test_a_responses_conversation_is_one_session(gw: Any) -> None:
    """Turn 1 is clean, turn 2 (continuing it) gets PII back, turn 3 (continuing turn 2) is denied: the
    conversation is one session, named by its first response, however long the `previous_response_id` chain."""
    api = client(gw, None).responses
    first = api.create(model="gpt", input="hello")
    second = api.create(model="gpt-leak", input="and?", previous_response_id=first.id)
    assert "ops@leaky-corp.com" in second.output_text
    with pytest.raises(openai.PermissionDeniedError) as denied:
        api.create(model="gpt", input="more", previous_response_id=second.id)
    assert denied.value.body["reasons"] == ["a model answer of this session held PII"]
    assert api.create(model="gpt", input="a new conversation").output_text  # a session of its own
    with pytest.raises(openai.PermissionDeniedError) as seen:
        api.create(model="claude", input="who?", previous_response_id=second.id)
    assert "seen: responses calls=3 denied=true targets=gpt,gpt-leak" in seen.value.body["reasons"]
    assert api.create(model="gpt", input="x", previous_response_id=second.id, extra_headers={"X-Gateway-Session": "n"})


def test_a_session_is_shared_by_replicas_and_survives_a_restart(
    gateway_factory: Any, sqlite_url: str, tmp_path: Path
) -> None:
    (tmp_path / "policy.rego").write_text(POLICY)
    first = gateway_factory(sqlite_url, policy={"dir": str(tmp_path), "timeout_ms": 2000})
    ask(first, "kept-on", "gpt-leak")
    first.server.__exit__()  # this replica stops; another on the same store takes the session's next call
    second = gateway_factory(sqlite_url, policy={"dir": str(tmp_path), "timeout_ms": 2000})
    with pytest.raises(openai.PermissionDeniedError):
        ask(second, "kept-on", "gpt")
