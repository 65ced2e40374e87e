"""The transport: headers that contradict the body, keys, sessions, and a stdio server that crashes."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from mcp.shared.exceptions import MCPError

from tests.helpers import audit_rows
from tests.mcp.conftest import connect

META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


def _call(name: str) -> dict:
    params = {"name": name, "arguments": {"a": 1, "b": 2}, "_meta": META}
    return {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}


def _headers(key: str, **extra: str) -> dict[str, str]:
    return {
        "authorization": f"Bearer {key}",
        "accept": "application/json",
        "mcp-protocol-version": "2026-07-28",
        **extra,
    }


async def test_header_body_mismatch_is_refused_and_audited(mcp_gateway):
    url = f"{mcp_gateway.url}/mcp/bank"
    async with httpx.AsyncClient() as http:
        name = await http.post(
            url,
            json=_call("add"),
            headers=_headers(mcp_gateway.key, **{"mcp-method": "tools/call", "mcp-name": "transfer_funds"}),
        )
        method = await http.post(
            url, json=_call("add"), headers=_headers(mcp_gateway.key, **{"mcp-method": "tools/list", "mcp-name": "add"})
        )
        good = await http.post(
            url, json=_call("add"), headers=_headers(mcp_gateway.key, **{"mcp-method": "tools/call", "mcp-name": "add"})
        )
    for refused in (name, method):
        assert refused.status_code == 400 and refused.json()["error"]["code"] == -32020
    assert good.status_code == 200 and good.json()["result"]["structuredContent"] == {"result": 3}
    rows = await asyncio.to_thread(audit_rows, mcp_gateway.settings.database_url)
    mismatches = [r for r in rows if r["error_code"] == "header_mismatch"]
    assert len(mismatches) == 2 and {r["agent"] for r in mismatches} == {"support-bot"}


async def test_keys_and_sessions(mcp_gateway):
    url = f"{mcp_gateway.url}/mcp/bank"
    async with httpx.AsyncClient() as http:
        anonymous = await http.post(url, json=_call("add"), headers={"accept": "application/json"})
        no_session = await http.post(
            url,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"authorization": f"Bearer {mcp_gateway.key}"},
        )
        unknown = await http.post(
            f"{mcp_gateway.url}/mcp/nowhere", json=_call("add"), headers=_headers(mcp_gateway.key)
        )
    assert anonymous.status_code == 401 and anonymous.json()["error"]["data"]["code"] == "invalid_api_key"
    assert no_session.status_code == 400 and "Mcp-Session-Id" in no_session.json()["error"]["message"]
    assert unknown.status_code == 404


async def test_stdio_server_that_crashes_is_restarted(mcp_gateway):
    url = f"{mcp_gateway.url}/mcp/files"
    async with connect(url, mcp_gateway.key, "auto") as client:
        before = (await client.call_tool("read_file", {"path": "a.txt"})).content[0].text
        with pytest.raises(MCPError) as crashed:
            await client.call_tool("crash", {})
        assert crashed.value.error.data["code"] in ("upstream_error", "upstream_timeout")
        after = None
        for _ in range(100):
            try:
                after = (await client.call_tool("read_file", {"path": "a.txt"})).content[0].text
                break
            except MCPError:
                await asyncio.sleep(0.1)
    assert after is not None and after != before  # another pid: a new process
    rows = await asyncio.to_thread(audit_rows, mcp_gateway.settings.database_url)
    assert [r for r in rows if r["target"] == "crash" and r["error_code"] in ("upstream_error", "upstream_timeout")]
