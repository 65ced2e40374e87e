"""A policy written the natural way, `redact := [p.type | some p in input.pii]` on the response phase, gets what
comes back redacted, never refused, on every surface and mode: an OpenAI stream (the gateway asks the policy up
front what its response phase would redact, so the look-behind takes those types out as the text streams), an
MCP tool's result, an A2A agent's answer and its stream."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.a2a.agents import A2AAgent
from tests.conftest import ServerThread
from tests.helpers import audit_rows, track
from tests.mcp.conftest import connect, start_mcp_gateway
from tests.mcp.servers import bank_server, http_app

NATURAL = """package gateway

import rego.v1

decision := {"allow": true, "reasons": [], "hold": null, "route": null, "redact": redact}

default redact := []

redact := [p.type | some p in input.pii] if input.call.phase == "response"
"""
LEAKED = ("4111 1111 1111 1111", "ops@leaky-corp.com")  # what the `*leak*` stand-in adds of its own


def _policy(tmp_path):
    folder = tmp_path / "natural"
    folder.mkdir()
    (folder / "policy.rego").write_text(NATURAL)
    return folder


def test_a_stream_is_redacted_not_refused(gateway_factory, sqlite_url, tmp_path):
    gw = gateway_factory(sqlite_url, policy={"dir": str(_policy(tmp_path)), "timeout_ms": 2000})
    client = track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0))
    chunks = client.chat.completions.create(model="gpt-leak", messages=[{"role": "user", "content": "hi"}], stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "openai says: hi" in text and "<CREDIT_CARD>" in text and "<EMAIL_ADDRESS>" in text
    assert all(value not in text for value in LEAKED)
    rows = audit_rows(gw.settings.database_url, wait_for=3)
    response = [r for r in rows if r["event"] == "decision" and r["phase"] == "response"]
    assert response and response[-1]["allow"]


@pytest.fixture
def natural_mcp(gateway_factory, sqlite_url, tmp_path, monkeypatch):
    with ServerThread(http_app(bank_server())) as thread:
        yield start_mcp_gateway(gateway_factory, sqlite_url, _policy(tmp_path), (None, thread), monkeypatch)


async def test_an_mcp_tool_result_is_redacted_not_refused(natural_mcp):
    async with connect(f"{natural_mcp.url}/mcp/bank", natural_mcp.key, "auto") as client:
        result = await client.call_tool("lookup_customer", {"customer_id": "c-1"})
    assert not result.is_error
    text = result.content[0].text
    assert text.startswith("customer c-1") and "jane.roe@example.com" not in text and "536-22-8456" not in text


@pytest.fixture
def natural_a2a(gateway_factory, sqlite_url, tmp_path):
    agent = A2AAgent()
    thread = ServerThread(agent)
    agent.bind(thread.url)
    agent.executor.gate.set()
    with thread:
        yield gateway_factory(
            sqlite_url,
            policy={"dir": str(_policy(tmp_path)), "timeout_ms": 2000},
            agents={"planner": {"url": agent.url, "timeout_s": 10}},
        )


async def test_an_agents_answer_and_stream_are_redacted_not_refused(natural_a2a):
    answers = []
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {natural_a2a.key}"}) as http:
        for method, text in (("message/send", "/leak"), ("message/stream", "/slow")):
            message = {"role": "user", "messageId": "m-1", "kind": "message", "parts": [{"kind": "text", "text": text}]}
            body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {"message": message}}
            answers.append((await http.post(f"{natural_a2a.url}/a2a/planner", json=body)).text)
    whole, streamed = answers
    assert "customer's address is <EMAIL_ADDRESS>" in json.loads(whole)["result"]["parts"][0]["text"]
    assert "done: the customer's address is <EMAIL_ADDRESS>" in streamed and '"error"' not in streamed
    assert "jane.roe@example.com" not in whole + streamed
