"""Usage where people and policies see it: windows that roll over on the clock, limits that reload, the CLI, the
admin API, the metrics, JSON-RPC surfaces' refusals, and a policy that steers on `input.usage`."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from mcp.shared.exceptions import MCPError

from gateway.clock import FakeClock
from gateway.limits.limiter import Limiter, Limits
from gateway.limits.reload import watch_limits
from gateway.settings import load_settings
from gateway.store.db import Database
from tests.a2a.agents import A2AAgent
from tests.a2a.conftest import message_v03
from tests.audit.test_export import _token
from tests.conftest import ROOT, ServerThread
from tests.helpers import audit_rows, track
from tests.mcp.conftest import connect
from tests.mcp.servers import TOKEN, bank_server, http_app
from tests.processes import cli, gateway_env

TEXT = "please summarise the quarterly figures for me"


def chat(gw: Any, model: str = "gpt", max_tokens: int = 7) -> Any:
    agent = track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0))
    return agent.chat.completions.with_raw_response.create(
        model=model, max_tokens=max_tokens, messages=[{"role": "user", "content": TEXT}]
    )


def test_a_window_rolls_over_on_the_clock(gateway_factory: Any, sqlite_url: str) -> None:
    clock = FakeClock()
    limits = [{"match": {"agent": "*"}, "requests": {"per": "1m", "max": 2}}]
    gw = gateway_factory(sqlite_url, clock, limits=limits)
    clock.advance(60 - clock.now().timestamp() % 60)  # the start of a minute
    chat(gw), chat(gw)
    with pytest.raises(openai.RateLimitError) as refused:
        chat(gw)
    assert refused.value.response.headers["retry-after"] == "60"
    clock.advance(59)
    with pytest.raises(openai.RateLimitError) as refused:
        chat(gw)
    assert refused.value.response.headers["retry-after"] == "1"
    clock.advance(1)
    assert chat(gw).headers["x-ratelimit-remaining-requests"] == "1"  # a new window


def test_limits_reload_when_the_config_file_changes(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("limits:\n  - {match: {team: a}, requests: {per: 1m, max: 5}}\n")
    clock = FakeClock()

    async def run() -> list[int]:
        db = Database(f"sqlite+aiosqlite:///{tmp_path}/gateway.db")
        limiter = Limiter(db, Limits.of(load_settings(config)), clock)
        watcher = asyncio.create_task(watch_limits(limiter, config, clock))
        seen = [limiter.limits.limits[0].requests.max]  # type: ignore[union-attr]
        await asyncio.sleep(0.01)  # the watcher has read the file as it was

        async def after_a_poll() -> None:
            for _ in range(3):
                await asyncio.sleep(0.01)
                clock.advance(1)
            await asyncio.sleep(0.05)

        config.write_text("limits:\n  - {match: {team: a}, requests: {per: 1m, max: 9}}\n")
        await after_a_poll()
        seen.append(limiter.limits.limits[0].requests.max)  # type: ignore[union-attr]
        config.write_text("limits:\n  - {match: {team: a}}\n")  # not valid: the old limits stay
        await after_a_poll()
        seen.append(limiter.limits.limits[0].requests.max)  # type: ignore[union-attr]
        watcher.cancel()
        await db.aclose()
        return seen

    assert asyncio.run(run()) == [5, 9, 9]


def test_the_cli_shows_resets_and_sets_usage_and_audits_changes(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    config = tmp_path / "gateway.yaml"
    config.write_text(
        f"database_url: sqlite+aiosqlite:///{tmp_path}/gateway.db\npolicy: {{dir: policies}}\n"
        "audit: {signing_key_file: audit.key}\npii: {key_file: pii.key}\napprovals: {key_file: approvals.key}\n"
        "prices: {echo: {input: 1, output: 1}}\n"
        "limits:\n  - name: research\n    match: {team: research}\n"
        "    requests: {per: 1h, max: 10}\n    spend_usd: {per: month, max: 2.5}\n"
    )
    env = gateway_env(config)
    cli(
        "usage",
        "set",
        "research",
        "--subject",
        "team=research",
        "--measure",
        "spend_usd",
        "--used",
        "1.25",
        env=env,
        check=True,
    )
    cli(
        "usage",
        "set",
        "research",
        "--subject",
        "team=research",
        "--measure",
        "requests",
        "--used",
        "4",
        env=env,
        check=True,
    )
    shown = json.loads(cli("usage", "--json", "--team", "research", env=env, check=True).stdout)
    figures = {row["measure"]: (row["used"], row["max"], row["remaining"]) for row in shown}
    assert figures == {"requests": (4, 10, 6), "spend_usd": (1.25, 2.5, 1.25)}
    table = cli("usage", env=env, check=True).stdout
    assert "research" in table and "spend_usd" in table and "1.25" in table
    done = cli("usage", "reset", "research", "--subject", "team=research", env=env, check=True)
    assert "from 1.25 to 0" in done.stdout
    assert all(row["used"] == 0 for row in json.loads(cli("usage", "--json", env=env).stdout))
    wrong = cli("usage", "reset", "nobody", "--subject", "team=x", env=env)
    assert wrong.returncode == 2 and "no limit named 'nobody'" in wrong.stderr
    rows = audit_rows(f"sqlite+aiosqlite:///{tmp_path}/gateway.db")
    changes = [r["reasons"][0] for r in rows if r["kind"] == "admin" and r["target"] == "usage.research"]
    assert changes[0] == "usage of 'research' for team=research (spend_usd) set from 0 to 1.25"
    assert len(changes) == 4  # two sets, and the reset of each measure
    assert all(r["actor"].startswith("cli:") for r in rows if r["kind"] == "admin")


def test_audit_readers_see_usage_over_the_api_and_metrics_show_it(gateway_factory: Any, sqlite_url: str) -> None:
    limits = [{"match": {"team": "cs"}, "requests": {"per": "1h", "max": 10}, "concurrent": 4}]
    audit = {"signing_key_env": "GATEWAY_TEST_AUDIT_KEY", "readers": ["audit"]}
    gw = gateway_factory(sqlite_url, limits=limits, audit=audit)
    chat(gw), chat(gw)
    reader, approver = _token(sqlite_url, "alice", ["audit"]), _token(sqlite_url, "bob", ["finance"])
    url = f"{gw.url}/admin/api/usage"
    with httpx.Client(timeout=10) as http:
        assert http.get(url).status_code == 401
        assert http.get(url, headers={"Authorization": f"Bearer {approver}"}).status_code == 403
        got = http.get(url, params={"team": "cs"}, headers={"Authorization": f"Bearer {reader}"}).json()["usage"]
        metrics = http.get(f"{gw.url}/metrics").text
    requests = next(row for row in got if row["measure"] == "requests")
    assert (requests["limit"], requests["used"], requests["remaining"]) == ("team=cs", 2, 8)
    assert 'gateway_limit_used{limit="team=cs",measure="requests",subject="team=cs"} 2.0' in metrics
    assert 'gateway_limit_max{limit="team=cs",measure="concurrent",subject="team=cs"} 4.0' in metrics


async def test_mcp_and_a2a_agents_get_json_rpc_refusals(
    gateway_factory: Any, sqlite_url: str, a2a_agent: A2AAgent, monkeypatch: Any
) -> None:
    monkeypatch.setenv("TEST_MCP_TOKEN", TOKEN)
    with ServerThread(http_app(bank_server())) as bank:
        upstream = {"url": f"{bank.url}/mcp", "headers_env": {"x-upstream-token": "TEST_MCP_TOKEN"}, "pin": "auto"}
        servers = {"bank": upstream}
        agents = {"planner": {"url": a2a_agent.url, "timeout_s": 10}}
        limits = [{"match": {"agent": "support-bot"}, "requests": {"per": "1h", "max": 1}}]
        gw = await asyncio.to_thread(gateway_factory, sqlite_url, limits=limits, mcp_servers=servers, agents=agents)
        async with connect(f"{gw.url}/mcp/bank", gw.key, "auto") as client:
            await client.call_tool("add", {"a": 1, "b": 2})
            with pytest.raises(MCPError) as refused:
                await client.call_tool("add", {"a": 1, "b": 2})
    assert refused.value.error.data["code"] == "rate_limited"
    assert "limit 'agent=support-bot' reached" in refused.value.error.message
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            f"{gw.url}/a2a/planner", json=message_v03("plan it"), headers={"Authorization": f"Bearer {gw.key}"}
        )
    body = answer.json()
    assert answer.status_code == 200 and answer.headers["retry-after"]  # a JSON-RPC error rides on a 200
    assert body["error"]["data"]["code"] == "rate_limited" and body["id"] == 1


def test_a_policy_routes_to_a_cheaper_model_when_the_budget_runs_low(
    gateway_factory: Any, sqlite_url: str, tmp_path: Path
) -> None:
    shutil.copytree(ROOT / "docs/examples/budgets", tmp_path / "policy")
    (tmp_path / "policy/policy_test.rego").unlink()
    data = {"budgets": {"hold_above_usd": 0.5, "low_fraction": 0.5, "cheaper": {"gpt": "claude"}}}
    (tmp_path / "policy/data.json").write_text(json.dumps(data))
    prices = {"gpt": {"input": 1000, "output": 1000}, "claude": {"input": 1, "output": 1}}
    limits = [{"match": {"team": "cs"}, "spend_usd": {"per": "month", "max": 1.0}}]
    gw = gateway_factory(sqlite_url, policy={"dir": str(tmp_path / "policy")}, prices=prices, limits=limits)
    body = {"model": "gpt", "max_tokens": 600, "messages": [{"role": "user", "content": TEXT}]}
    headers = {"Authorization": f"Bearer {gw.key}", "Prefer": "respond-async"}
    held = httpx.post(f"{gw.url}/v1/chat/completions", json=body, headers=headers, timeout=30)
    assert held.status_code == 202  # (19 + 600) x $1000/M may cost $0.62, above the $0.50 a call may spend unreviewed
    assert "may cost up to $0.62" in json.dumps(held.json())
    first = chat(gw, max_tokens=7).parse()  # reserves (19 + 7) x $1000/M = $0.026 of $1: plenty left
    assert first.choices[0].message.content.startswith("openai says")
    for _ in range(40):  # each costs 18 x $1000/M = $0.018 until half the budget is gone
        answer = chat(gw, max_tokens=7).parse()
        if not answer.choices[0].message.content.startswith("openai says"):
            break
    assert answer.choices[0].message.content.startswith("anthropic says")  # routed by the policy
