"""Resources and prompts pass the same checks as tools, for clients of both revisions: their listings are
filtered by policy per agent, and `resources/read` / `prompts/get` are decided (`kind: tool`, `operation` the
method, `target` the URI or prompt name), inspected for PII, redacted and audited."""

from __future__ import annotations

import asyncio
import json

import pytest
from mcp.shared.exceptions import MCPError

from tests.helpers import audit_rows
from tests.mcp.conftest import connect, intern_key

FORBIDDEN = -32003


async def _rows(gateway, target, event="decision"):
    rows = await asyncio.to_thread(audit_rows, gateway.settings.database_url)
    return [r for r in rows if r["kind"] == "tool" and r["target"] == target and r["event"] == event]


async def _listings(url, key, mode):
    async with connect(url, key, mode) as client:
        resources = {str(r.uri) for r in (await client.list_resources()).resources}
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        prompts = {p.name for p in (await client.list_prompts()).prompts}
    return resources, templates, prompts


async def test_listings_are_filtered_by_policy_per_agent(mcp_gateway, mode):
    url = f"{mcp_gateway.url}/mcp/bank"
    assert await _listings(url, mcp_gateway.key, mode) == (
        {"bank://rates", "bank://audit-log"},
        {"customer://{customer_id}"},
        {"reply_to", "escalate"},
    )
    intern = await asyncio.to_thread(intern_key, mcp_gateway)
    assert await _listings(url, intern, mode) == ({"bank://rates"}, set(), {"reply_to"})


async def test_resource_read_is_decided_redacted_and_audited(mcp_gateway, mode):
    url = f"{mcp_gateway.url}/mcp/bank"
    async with connect(url, mcp_gateway.key, mode) as client:
        record = await client.read_resource("customer://c-7")
    text = record.contents[0].text
    assert text.startswith("customer c-7: Jane Roe") and "jane.roe@example.com" not in text
    (request, response) = await _rows(mcp_gateway, "customer://c-7")
    assert (request["phase"], request["allow"], response["phase"], response["provider"]) == (
        "request",
        True,
        "response",
        "bank",
    )
    (redacted,) = await _rows(mcp_gateway, "customer://c-7", "redacted")
    assert redacted["phase"] == "response" and redacted["pii"][0]["type"] == "EMAIL_ADDRESS"
    intern = await asyncio.to_thread(intern_key, mcp_gateway)
    async with connect(url, intern, mode) as client:
        with pytest.raises(MCPError) as denied:
            await client.read_resource("bank://audit-log")
    assert denied.value.error.code == FORBIDDEN and denied.value.error.data["code"] == "policy_denied"
    (row,) = await _rows(mcp_gateway, "bank://audit-log")
    assert row["allow"] is False and row["agent"] == "intern"
    assert row["reasons"] == ["interns may not read internal or customer resources"]


async def test_prompt_get_is_decided_redacted_and_audited(mcp_gateway, mode):
    url = f"{mcp_gateway.url}/mcp/bank"
    async with connect(url, mcp_gateway.key, mode) as client:
        prompt = await client.get_prompt("reply_to", {"customer": "jane.roe@example.com"})
    text = prompt.messages[0].content.text
    assert text.startswith("Write a polite reply to") and "jane.roe@example.com" not in text  # redacted on the way in
    (redacted,) = await _rows(mcp_gateway, "reply_to", "redacted")
    assert redacted["phase"] == "request"
    intern = await asyncio.to_thread(intern_key, mcp_gateway)
    async with connect(url, intern, mode) as client:
        with pytest.raises(MCPError) as denied:
            await client.get_prompt("escalate")
    assert denied.value.error.data["reasons"] == ["interns may not escalate"]
    (row,) = await _rows(mcp_gateway, "escalate")
    assert row["allow"] is False
    assert "jane.roe@example.com" not in json.dumps(
        await asyncio.to_thread(audit_rows, mcp_gateway.settings.database_url)
    )
