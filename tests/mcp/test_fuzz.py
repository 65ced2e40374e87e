"""The MCP surface fuzzed like the others (`tests/fault/test_fuzz_bodies.py`): mutated JSON-RPC bodies of both
revisions get a JSON-RPC error or an answer, never a server error."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fault.test_fuzz_bodies import bodies, server_errors

META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
BASES = [
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "add", "arguments": {"a": 1, "b": 2}, "_meta": META},
    },
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": META}},
    {"jsonrpc": "2.0", "id": 3, "method": "resources/read", "params": {"uri": "bank://rates", "_meta": META}},
    {
        "jsonrpc": "2.0",
        "id": 4,
        "method": "prompts/get",
        "params": {"name": "escalate", "arguments": {}, "_meta": META},
    },
]


def _named(body: Any) -> dict[str, str]:
    """The headers the 2026-07-28 revision wants to match the body (so mutations get past the transport)."""
    if not isinstance(body, dict):
        return {}
    params = body.get("params")
    named = {"mcp-method": body.get("method")}
    named["mcp-name"] = params.get("name", params.get("uri")) if isinstance(params, dict) else None
    return {k: v for k, v in named.items() if isinstance(v, str) and v.isascii() and v.isprintable()}


def test_no_mcp_body_gets_a_server_error(mcp_gateway):
    headers = {
        "authorization": f"Bearer {mcp_gateway.key}",
        "content-type": "application/json",
        "accept": "application/json",
        "mcp-protocol-version": "2026-07-28",
    }
    with httpx.Client(base_url=mcp_gateway.url, timeout=30) as client:
        failures = server_errors(client, "/mcp/bank", bodies("/mcp/bank", 600, BASES), headers, _named)
    assert not failures, f"{len(failures)} server errors:\n" + "\n".join(failures[:8])
