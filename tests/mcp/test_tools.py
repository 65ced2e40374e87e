"""MCP through the gateway with the official SDK on both sides, for clients of both revisions: listing
filtered by policy, a denied call, PII redacted both ways, a held call approved (with progress) or
rejected, and an audit event for each."""

from __future__ import annotations

import asyncio
import json

import pytest
from mcp.shared.exceptions import MCPError

from tests.helpers import audit_rows
from tests.hold.reviewer import decide, payload, pending
from tests.mcp.conftest import connect, intern_key

FORBIDDEN = -32003


async def _all_rows(gateway):
    return await asyncio.to_thread(audit_rows, gateway.settings.database_url)


async def _rows(gateway, target, event="decision"):
    rows = await _all_rows(gateway)
    calls = [r for r in rows if r["actor"] != "gateway"]  # the gateway's own pin events are about tools, not calls
    return [r for r in calls if r["kind"] == "tool" and r["target"] == target and r["event"] == event]


async def test_list_is_filtered_by_policy_per_agent(mcp_gateway, mode):
    url = f"{mcp_gateway.url}/mcp/bank"
    async with connect(url, mcp_gateway.key, mode) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert names == {"add", "lookup_customer", "send_email", "transfer_funds", "secret_tool"}  # not delete_everything
    async with connect(url, await asyncio.to_thread(intern_key, mcp_gateway), mode) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert "secret_tool" not in names and "add" in names


async def test_call_goes_through_and_is_audited(mcp_gateway, mode, bank):
    async with connect(f"{mcp_gateway.url}/mcp/bank", mcp_gateway.key, mode) as client:
        result = await client.call_tool("add", {"a": 2, "b": 3})
    assert result.structured_content == {"result": 5} and not result.is_error
    rows = await _rows(mcp_gateway, "add")
    assert [(r["phase"], r["allow"], r["provider"]) for r in rows] == [
        ("request", True, None),  # written ahead of the forward
        ("response", True, "bank"),  # the call's outcome
    ]
    assert rows[0]["surface"] == "mcp" and rows[0]["agent"] == "support-bot"
    pinned = [r for r in await _all_rows(mcp_gateway) if r["actor"] == "gateway" and r["target"] == "add"]
    assert pinned and pinned[0]["allow"] and pinned[0]["reasons"] == ["tool 'add' pinned"]
    # the upstream got the gateway's credential, never the agent's key
    seen = bank[1].server.config.app.seen_authorization
    assert seen and not any(mcp_gateway.key in header for header in seen)


async def test_denied_call(mcp_gateway, mode):
    async with connect(f"{mcp_gateway.url}/mcp/bank", mcp_gateway.key, mode) as client:
        with pytest.raises(MCPError) as denied:
            await client.call_tool("delete_everything", {})
    assert denied.value.error.code == FORBIDDEN
    assert denied.value.error.data["code"] == "policy_denied"
    assert denied.value.error.data["reasons"] == ["nobody deletes everything"]
    (row,) = await _rows(mcp_gateway, "delete_everything")
    assert row["allow"] is False and row["reasons"] == ["nobody deletes everything"]


async def test_pii_redacted_in_arguments_and_results(mcp_gateway, mode):
    async with connect(f"{mcp_gateway.url}/mcp/bank", mcp_gateway.key, mode) as client:
        sent = await client.call_tool("send_email", {"to": "jane.roe@example.com", "body": "hello"})
        looked_up = await client.call_tool("lookup_customer", {"customer_id": "c-1"})
    assert "jane.roe@example.com" not in sent.content[0].text  # the upstream echoed what it got: redacted
    text = looked_up.content[0].text
    assert "jane.roe@example.com" not in text and "536-22-8456" not in text and text.startswith("customer c-1")
    redacted = await _rows(mcp_gateway, "send_email", "redacted") + await _rows(
        mcp_gateway, "lookup_customer", "redacted"
    )
    assert {r["phase"] for r in redacted} == {"request", "response"}
    dumped = json.dumps(await _all_rows(mcp_gateway))
    assert "jane.roe@example.com" not in dumped and "536-22-8456" not in dumped


async def _approve_when_held(gateway, verdict, after_s=0.0):
    held = await asyncio.to_thread(pending, gateway.settings)
    await asyncio.sleep(after_s)  # the reviewer takes a while: the client hears progress meanwhile
    action = (await asyncio.to_thread(payload, gateway.settings, held[0].approval_id))["action"]
    await asyncio.to_thread(decide, gateway.settings, held[0].approval_id, verdict, "checked")
    return action


async def test_held_call_approved_with_progress(mcp_gateway, mode):
    progress: list[str | None] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(message)

    async with connect(f"{mcp_gateway.url}/mcp/bank", mcp_gateway.key, mode) as client:
        call = asyncio.create_task(
            client.call_tool("transfer_funds", {"amount": 5000, "to": "DE02"}, progress_callback=on_progress)
        )
        action = await _approve_when_held(mcp_gateway, "approve", after_s=1.5)
        result = await asyncio.wait_for(call, 20)
    assert result.content[0].text == "transferred 5000 to DE02"
    assert action["kind"] == "tool" and action["target"] == "transfer_funds" and action["server"] == "bank"
    assert json.loads(action["call"]["arguments"]) == {"amount": 5000, "to": "DE02"}
    assert progress and "approval" in (progress[0] or "")
    events = [r["event"] for r in await _all_rows(mcp_gateway) if r["target"] == "transfer_funds"]
    assert {"held", "approved", "released"} <= set(events)


async def test_held_call_rejected_is_a_jsonrpc_error(mcp_gateway, mode):
    async with connect(f"{mcp_gateway.url}/mcp/bank", mcp_gateway.key, mode) as client:
        call = asyncio.create_task(client.call_tool("transfer_funds", {"amount": 900, "to": "DE02"}))
        await _approve_when_held(mcp_gateway, "reject")
        with pytest.raises(MCPError) as rejected:
            await asyncio.wait_for(call, 20)
    assert rejected.value.error.code == FORBIDDEN and rejected.value.error.data["code"] == "approval_rejected"
    assert "rejected" in [r["event"] for r in await _rows(mcp_gateway, "transfer_funds", "rejected")]
