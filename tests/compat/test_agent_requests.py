"""Precision on what coding agents really send: requests recorded from Claude Code and Codex (`tests/data/
agent_requests/`: their system prompts, tool descriptions and beta features are public text) go through the
gateway with its default policy and PII settings to a provider of the same format, and arrive unchanged apart
from the model: no redaction (file names, versions, module names, quantities and no-reply senders are not
personal data), every block, `cache_control` and system turn as sent. Runs without the CLIs installed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.compat.test_agent_clis import _first_difference, _providers
from tests.conftest import ServerThread
from tests.helpers import audit_rows
from tests.responses_upstream import ResponsesUpstream

RECORDED = sorted((Path(__file__).parents[1] / "data/agent_requests").glob("*.json"))


@pytest.fixture
def native_upstream() -> Iterator[tuple[ResponsesUpstream, str]]:
    upstream = ResponsesUpstream()
    with ServerThread(upstream.app) as server:
        yield upstream, server.url


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
def test_a_recorded_agent_request_reaches_the_provider_unchanged(
    path, gateway_factory, sqlite_url, anthropic_upstream, openai_upstream, native_upstream
):
    recorded: dict[str, Any] = json.loads(path.read_text())
    body = recorded["body"]
    anthropic = recorded["path"] == "/v1/messages"
    upstream = anthropic_upstream[0] if anthropic else native_upstream[0]
    target = {"provider": "ant", "model": "claude-test"} if anthropic else {"provider": "native", "model": "gpt-x"}
    providers = _providers(openai_upstream[1], anthropic_upstream[1], native_upstream[1])
    gw = gateway_factory(sqlite_url, providers=providers, routes={body["model"]: target})
    headers = {**recorded["headers"], "authorization": f"Bearer {gw.key}"}
    with httpx.stream("POST", gw.url + recorded["path"], json=body, headers=headers, timeout=60) as resp:
        answer = resp.read()
    assert resp.status_code == 200, answer[:500]
    received = upstream.received[-1]
    removed = {"web_search"}  # the default policy allows no hosted tool: taken out of the call
    sent = {**body, "model": target["model"]}
    if "tools" in sent:
        sent["tools"] = [t for t in sent["tools"] if t.get("type") not in removed]
    assert received == sent, _first_difference(sent, received)
    events = [r["event"] for r in audit_rows(sqlite_url, wait_for=2)]
    assert "redacted" not in events


FIDELITY = Path(__file__).parents[2] / "docs/fidelity.md"
REAL_CLIENTS = "## Real clients: headers a provider does not get"


def header_rows() -> list[tuple[str, str, str]]:
    """(client, header, reaches) of the docs' table of real clients' headers."""
    text = FIDELITY.read_text()
    table = text[text.index(REAL_CLIENTS) :]
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[1].startswith("`"):
            rows.append((cells[0], cells[1].strip("`"), cells[2]))
    return rows


def test_the_header_table_holds_for_each_recorded_client(
    gateway_factory, sqlite_url, anthropic_upstream, openai_upstream, native_upstream
):
    """Every row of docs/fidelity.md's table of real clients' headers, checked on that client's recorded request:
    `yes` arrives as sent, `no` does not arrive, `the gateway's own` arrives with the gateway's value."""
    rows = header_rows()
    assert {client.split()[0] for client, _, _ in rows} == {"Claude", "Codex"}
    providers = _providers(openai_upstream[1], anthropic_upstream[1], native_upstream[1])
    checked = 0
    for path in RECORDED:
        recorded = json.loads(path.read_text())
        client = recorded["client"].split(" (")[0].replace("claude-code", "Claude Code").replace("codex", "Codex")
        mine = [(header, reaches) for who, header, reaches in rows if who == client]
        assert mine, f"no row for {client} in {FIDELITY.name}"
        body, anthropic = recorded["body"], recorded["path"] == "/v1/messages"
        target = {"provider": "ant", "model": "claude-test"} if anthropic else {"provider": "native", "model": "gpt-x"}
        gw = gateway_factory(sqlite_url, providers=providers, routes={body["model"]: target})
        own = {header for header, reaches in mine if reaches == "the gateway's own"}
        key = {"authorization": f"Bearer {gw.key}", "x-api-key": gw.key}
        sent = {k: (key[k] if v == "<gateway key>" else v) for k, v in recorded["headers"].items()}
        sent = {k: f"{v} (client)" if k in own else v for k, v in sent.items()}  # so the gateway's cannot match
        with httpx.stream("POST", gw.url + recorded["path"], json=body, headers=sent, timeout=60) as resp:
            resp.read()
        assert resp.status_code == 200
        got = (anthropic_upstream[0] if anthropic else native_upstream[0]).headers[-1]
        for header, reaches in mine:
            if header not in sent:
                continue
            if reaches.startswith("yes"):
                assert got.get(header) == sent[header], header
            elif reaches == "no":
                assert header not in got, header
            else:  # the gateway's own
                assert got.get(header) and got[header] != sent[header], header
            checked += 1
    assert checked >= len(rows)
