"""Fixtures: the upstream MCP servers (streamable HTTP in a thread, stdio launched by the gateway), a
gateway in front of them with a tool policy, and SDK clients of both protocol revisions."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import MCPServer

from tests.conftest import ServerThread, create_key
from tests.mcp.servers import TOKEN, bank_server, http_app

STDIO_SERVER = Path(__file__).parent / "stdio_server.py"

POLICY = """package gateway

import rego.v1

decision := {
    "allow": count(deny) == 0, "reasons": sort([r | some r in deny]), "hold": hold, "redact": redact, "route": null,
}

default hold := null

hold := {"reason": "transfers need sign-off", "approvers": "finance"} if {
    input.call.phase == "request"
    some call in input.call.tool_calls
    call.name == "transfer_funds"
    call.arguments.amount > 100
}

default redact := []

redact := ["EMAIL_ADDRESS", "US_SSN"] if input.call.kind == "tool"

deny contains "nobody deletes everything" if input.call.target == "delete_everything"

deny contains "interns may not use secret_tool" if {
    input.call.target == "secret_tool"
    input.principal.agent == "intern"
}

deny contains "interns may not read internal or customer resources" if {
    input.call.operation == "resources/read"
    some prefix in ["bank://audit", "customer://"]
    startswith(input.call.target, prefix)
    input.principal.agent == "intern"
}

deny contains "interns may not escalate" if {
    input.call.operation == "prompts/get"
    input.call.target == "escalate"
    input.principal.agent == "intern"
}
"""


@pytest.fixture
def bank() -> Iterator[tuple[MCPServer, ServerThread]]:
    server = bank_server()
    with ServerThread(http_app(server)) as thread:
        yield server, thread


def start_mcp_gateway(gateway_factory: Any, sqlite_url: str, policy_dir: Path, bank: Any, monkeypatch: Any) -> Any:
    """A gateway in front of the bank (HTTP) and files (stdio) servers, with the policies in `policy_dir`."""
    monkeypatch.setenv("TEST_MCP_TOKEN", TOKEN)
    servers = {
        "bank": {"url": f"{bank[1].url}/mcp", "headers_env": {"x-upstream-token": "TEST_MCP_TOKEN"}, "pin": "auto"},
        "files": {"command": [sys.executable, str(STDIO_SERVER)], "pin": "auto", "restart_backoff_s": 0.1},
    }
    return gateway_factory(
        sqlite_url,
        policy={"dir": str(policy_dir), "timeout_ms": 2000},
        approvals={"key_env": "GATEWAY_TEST_APPROVALS_KEY", "poll_s": 0.2, "keepalive_s": 0.2, "timeout_s": 20},
        mcp_servers=servers,
    )


@pytest.fixture
def mcp_gateway(gateway_factory: Any, sqlite_url: str, tmp_path: Path, bank: Any, monkeypatch: Any) -> Any:
    (tmp_path / "policy.rego").write_text(POLICY)
    return start_mcp_gateway(gateway_factory, sqlite_url, tmp_path, bank, monkeypatch)


@asynccontextmanager
async def connect(url: str, key: str, mode: str) -> AsyncIterator[Client]:
    """An official SDK client of one revision ('auto' speaks 2026-07-28 here, 'legacy' 2025-11-25)."""
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode, cache=None) as client:
            yield client


@pytest.fixture(params=["auto", "legacy"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def intern_key(gateway: Any) -> str:
    return create_key(gateway.settings.database_url, agent="intern", team="cs")
