"""Sessions on agent calls: an A2A message's `contextId` names its session (within the calling agent), and
`X-Gateway-Session` wins over it. The upstream is an `a2a-sdk` agent; the policy denies a conversation whose
earlier agent answer carried PII."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.a2a.agents import A2AAgent

POLICY = """package gateway

import rego.v1

decision := {
    "allow": count(deny) == 0, "reasons": sort([r | some r in deny]), "hold": null, "redact": [], "route": null,
}

deny contains concat("", ["an agent answer of this ", input.session.named_by, " session held PII"]) if {
    input.call.phase == "request"
    some p in input.session.pii
    p.source == "agent_answer"
}
"""


@pytest.fixture
def gw(gateway_factory: Any, sqlite_url: str, tmp_path: Path, a2a_agent: A2AAgent) -> Any:
    (tmp_path / "policy.rego").write_text(POLICY)
    agents = {"planner": {"url": a2a_agent.url, "timeout_s": 10}}
    return gateway_factory(sqlite_url, policy={"dir": str(tmp_path), "timeout_ms": 2000}, agents=agents)


async def send(gw: Any, text: str, context: str | None, **headers: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "user", "messageId": f"m-{text}", "kind": "message"}
    message["parts"] = [{"kind": "text", "text": text}]
    if context is not None:
        message["contextId"] = context
    body = {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": message}}
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            f"{gw.url}/a2a/planner", json=body, headers={"Authorization": f"Bearer {gw.key}", **headers}
        )
    result: dict[str, Any] = answer.json()
    return result


async def test_a_context_remembers_what_an_agent_answered(gw: Any) -> None:
    leaked = await send(gw, "/leak", "ctx-1")
    assert "jane.roe@example.com" in leaked["result"]["parts"][0]["text"]
    denied = await send(gw, "and now?", "ctx-1")
    assert denied["error"]["data"]["reasons"] == ["an agent answer of this a2a session held PII"]
    assert "result" in await send(gw, "hello", "ctx-2")  # another conversation
    assert "result" in await send(gw, "hello", None)  # no contextId: no session
    # the caller's own session name wins over the contextId: a new session, nothing seen yet
    assert "result" in await send(gw, "hello", "ctx-1", **{"X-Gateway-Session": "mine"})
