"""Per-session memory through MCP, with the official SDK and the worked example `session-pii-external`: after a
tool result carried an email address, a call of an external tool in the same session is denied with a JSON-RPC
error and audited; another session (and the same tool before any PII came back) goes through. A 2025-11-25
client's session is its MCP session; a 2026-07-28 client (stateless) names one with `X-Gateway-Session`."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.helpers import audit_rows
from tests.mcp.conftest import STDIO_SERVER
from tests.mcp.servers import TOKEN

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "session-pii-external"
FORBIDDEN = -32003
REASON = "this session received PII from a tool (EMAIL_ADDRESS, US_SSN); 'send_email' is an external tool"


@pytest.fixture
def session_gateway(gateway_factory: Any, sqlite_url: str, bank: Any, monkeypatch: Any) -> Any:
    monkeypatch.setenv("TEST_MCP_TOKEN", TOKEN)
    servers = {
        "bank": {"url": f"{bank[1].url}/mcp", "headers_env": {"x-upstream-token": "TEST_MCP_TOKEN"}, "pin": "auto"},
        "files": {"command": [sys.executable, str(STDIO_SERVER)], "pin": "auto"},
    }
    return gateway_factory(sqlite_url, policy={"dir": str(EXAMPLE), "timeout_ms": 2000}, mcp_servers=servers)


@asynccontextmanager
async def connect(url: str, key: str, mode: str, session: str | None = None) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {key}"}
    if session is not None:
        headers["X-Gateway-Session"] = session
    async with httpx2.AsyncClient(headers=headers) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode, cache=None) as client:
            yield client


async def _denials(gateway: Any) -> list[dict[str, Any]]:
    rows = await asyncio.to_thread(audit_rows, gateway.settings.database_url)
    return [r for r in rows if r["target"] == "send_email" and r["event"] == "decision" and not r["allow"]]


@pytest.mark.parametrize("mode,named", [("legacy", None), ("auto", "conv-1")])
async def test_external_tool_after_pii_in_a_tool_result_is_denied(session_gateway, mode, named):
    url = f"{session_gateway.url}/mcp/bank"
    async with connect(url, session_gateway.key, mode, named) as client:
        sent = await client.call_tool("send_email", {"to": "partner@example.org", "body": "hi"})
        assert not sent.is_error  # before any PII came back: allowed
        looked_up = await client.call_tool("lookup_customer", {"customer_id": "c-1"})
        assert "jane.roe@example.com" in looked_up.content[0].text  # this example policy redacts nothing
        with pytest.raises(MCPError) as denied:
            await client.call_tool("send_email", {"to": "partner@example.org", "body": "hi"})
        assert (await client.call_tool("add", {"a": 1, "b": 2})).structured_content == {"result": 3}
    assert denied.value.error.code == FORBIDDEN
    assert denied.value.error.data["code"] == "policy_denied" and denied.value.error.data["reasons"] == [REASON]
    (row,) = await _denials(session_gateway)
    assert row["reasons"] == [REASON] and row["agent"] == "support-bot" and row["surface"] == "mcp"
    other = "conv-2" if named else None  # another MCP session (a new initialize), or another session name
    async with connect(url, session_gateway.key, mode, other) as client:
        again = await client.call_tool("send_email", {"to": "partner@example.org", "body": "hi"})
    assert not again.is_error
    assert len(await _denials(session_gateway)) == 1


async def test_a_stateless_client_without_a_session_name_has_no_memory(session_gateway):
    url = f"{session_gateway.url}/mcp/bank"
    async with connect(url, session_gateway.key, "auto") as client:
        await client.call_tool("lookup_customer", {"customer_id": "c-1"})
        sent = await client.call_tool("send_email", {"to": "partner@example.org", "body": "hi"})
    assert not sent.is_error and await _denials(session_gateway) == []
