"""Fixtures: an upstream A2A agent (`a2a-sdk` server) and a plain HTTP agent on loopback, a gateway in front
of them with an agent policy, and helpers to call it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.a2a.agents import A2AAgent, http_agent
from tests.conftest import ServerThread, create_key
from tests.helpers import audit_rows

UPSTREAM_TOKEN = "upstream-secret-token"

POLICY = """package gateway

import rego.v1

decision := {
    "allow": count(deny) == 0, "reasons": sort([r | some r in deny]), "hold": hold, "redact": redact, "route": null,
}

default hold := null

hold := {"reason": "the VIP's planner needs sign-off", "approvers": "finance"} if {
    input.call.kind == "agent"
    input.call.phase == "request"
    input.principal.end_user == "vip"
}

hold := {"reason": "answers with addresses need sign-off", "approvers": "finance"} if {
    input.call.kind == "agent"
    input.call.phase == "response"
    input.principal.end_user == "reviewed"
    some finding in input.pii
    finding.type == "EMAIL_ADDRESS"
}

default redact := []

redact := ["EMAIL_ADDRESS"] if input.call.kind == "agent"

deny contains "agents may not hand out SSNs" if {
    input.call.kind == "agent"
    input.call.phase == "response"
    some finding in input.pii
    finding.type == "US_SSN"
}

deny contains "interns may not call other agents" if {
    input.call.kind == "agent"
    input.principal.agent == "intern"
}
"""


@pytest.fixture
def plain_agent() -> Iterator[tuple[str, list[Any]]]:
    app, seen = http_agent()
    with ServerThread(app) as thread:
        yield f"{thread.url}/run", seen


@pytest.fixture
def a2a_gateway(
    gateway_factory: Any, sqlite_url: str, tmp_path: Path, a2a_agent: A2AAgent, plain_agent: Any, monkeypatch: Any
) -> Any:
    monkeypatch.setenv("TEST_AGENT_TOKEN", UPSTREAM_TOKEN)
    (tmp_path / "policy.rego").write_text(POLICY)
    agents = {
        "planner": {"url": a2a_agent.url, "headers_env": {"x-upstream-token": "TEST_AGENT_TOKEN"}, "timeout_s": 10},
        "runner": {"url": plain_agent[0], "protocol": "http", "headers": {"x-tenant": "agents"}},
    }
    return gateway_factory(
        sqlite_url,
        policy={"dir": str(tmp_path), "timeout_ms": 2000},
        approvals={"key_env": "GATEWAY_TEST_APPROVALS_KEY", "poll_s": 0.2, "keepalive_s": 0.2, "timeout_s": 20},
        agents=agents,
    )


def intern_key(gateway: Any) -> str:
    return create_key(gateway.settings.database_url, agent="intern", team="cs")


async def agent_rows(gateway: Any, target: str, event: str = "decision", wait_for: int = 0) -> list[dict[str, Any]]:
    """The audit rows of calls to `target` (waiting up to 5 s for `wait_for` rows in all: a stream's records
    land when it ends, which may be just after the client read its last event)."""
    rows = await asyncio.to_thread(audit_rows, gateway.settings.database_url, wait_for)
    return [r for r in rows if r["kind"] == "agent" and r["target"] == target and r["event"] == event]


def message_v03(text: str, method: str = "message/send", request_id: int = 1) -> dict[str, Any]:
    """A raw A2A 0.3 JSON-RPC request, as older clients send it."""
    parts = [{"kind": "text", "text": text}]
    message = {"role": "user", "messageId": f"m-{request_id}", "kind": "message", "parts": parts}
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {"message": message}}
