"""A plain HTTP agent (`protocol: http`) through the gateway: the body forwarded as it is, PII redacted both
ways, a denial in the OpenAI error shape, and audit events."""

from __future__ import annotations

import asyncio

import httpx

from tests.a2a.conftest import agent_rows, intern_key


async def _post(gateway, body, key=None):
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{gateway.url}/a2a/runner", json=body, headers={"Authorization": f"Bearer {key or gateway.key}"}
        )


async def test_body_forwarded_and_answer_returned(a2a_gateway, plain_agent):
    response = await _post(a2a_gateway, {"input": "run the report", "options": {"fast": True}})
    assert response.status_code == 200 and response.json() == {"output": "done: run the report"}
    assert plain_agent[1][-1] == {"input": "run the report", "options": {"fast": True}}
    assert response.headers["x-gateway-decision-id"]
    rows = await agent_rows(a2a_gateway, "runner")
    assert [(r["phase"], r["allow"], r["surface"]) for r in rows] == [
        ("request", True, "a2a"),
        ("response", True, "a2a"),
    ]


async def test_pii_redacted_both_ways(a2a_gateway, plain_agent):
    await _post(a2a_gateway, {"input": "write to jane.roe@example.com"})
    assert "jane.roe@example.com" not in plain_agent[1][-1]["input"]
    leaked = (await _post(a2a_gateway, {"input": "/leak"})).json()
    assert "jane.roe@example.com" not in leaked["output"]


async def test_denied_in_openai_error_shape(a2a_gateway, plain_agent):
    key = await asyncio.to_thread(intern_key, a2a_gateway)
    response = await _post(a2a_gateway, {"input": "hi"}, key=key)
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "policy_denied" and error["reasons"] == ["interns may not call other agents"]
    assert plain_agent[1] == []
    (row,) = await agent_rows(a2a_gateway, "runner")
    assert row["allow"] is False
