"""A policy change seen before it bites: replay on recorded traffic, shadow evaluation beside the enforced
policy, `policy why` and the kept versions, through the real app, the official SDK and the CLI."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway.clock import FakeClock
from tests.audit.test_export import _token
from tests.conftest import POLICIES
from tests.helpers import audit_rows, track, wait_until
from tests.processes import cli, gateway_env

TOOLS = ["lookup_order", "send_email"]
EMAIL_ARGUMENTS = '{"to": "jane@example.com"}'


def candidate(tmp_path: Path, risky: list[str]) -> Path:
    """The shipped policies with `risky` added to the risky tools."""
    directory = tmp_path / f"candidate-{'-'.join(risky)}"
    if directory.exists():
        return directory
    shutil.copytree(POLICIES, directory)
    data_file = directory / "gateway/data.json"
    data = json.loads(data_file.read_text())
    data["risky_tools"] = [*data["risky_tools"], *risky]
    data_file.write_text(json.dumps(data))
    return directory


def traffic(gw: Any, refused_too: bool = False) -> None:
    """Calls whose answers ask for each tool (the demo upstream asks for the tool a `/tool` message names), plain
    calls, and one sending back the result of a `send_email` call whose arguments hold an email address."""
    agent = track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0))
    offered = [{"type": "function", "function": {"name": name, "parameters": {"type": "object"}}} for name in TOOLS]
    calls = [[{"role": "user", "content": text}] for text in ["/tool lookup_order {}", "/tool send_email {}", "hi"]]
    sent = {"id": "call_1", "type": "function", "function": {"name": "send_email", "arguments": EMAIL_ARGUMENTS}}
    conversation = [
        {"role": "user", "content": "mail the report"},
        {"role": "assistant", "content": None, "tool_calls": [sent]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sent"},
    ]
    for messages in [calls[0], calls[0], calls[1], calls[1], calls[2], conversation]:
        try:
            agent.chat.completions.create(model="echo", messages=messages, tools=offered)
        except openai.APIStatusError:
            if not refused_too:  # an example policy may deny or hold some: they are recorded all the same
                raise


def uses(row: dict[str, Any], tool: str) -> bool:
    return bool(row["policy"]) and any(c["name"] == tool for c in row["policy"]["input"]["call"]["tool_calls"])


def configured(tmp_path: Path, database_url: str, **policy: Any) -> dict[str, str]:
    """The environment of a CLI that reads `database_url` (the audit key the gateway signed with, too)."""
    config = tmp_path / "gateway.yaml"
    audit = {"signing_key_env": "GATEWAY_TEST_AUDIT_KEY"}
    config.write_text(
        json.dumps({"database_url": database_url, "policy": {"dir": str(POLICIES), **policy}, "audit": audit})
    )
    return gateway_env(config, GATEWAY_TEST_AUDIT_KEY=os.environ["GATEWAY_TEST_AUDIT_KEY"])


def test_replay_flips_exactly_the_calls_a_change_touches(
    gateway_factory: Any, database_url: str, tmp_path: Path
) -> None:
    gw = gateway_factory(database_url)
    traffic(gw)
    wait_until(lambda: len(audit_rows(database_url)) >= 12)
    env = configured(tmp_path, database_url)
    same = cli("policy", "replay", "--dir", str(POLICIES), "--json", env=env)
    assert same.returncode == 0, same.stderr  # the shipped policy replays its own records exactly
    unchanged = json.loads(same.stdout)
    assert unchanged["changed"] == 0 and unchanged["decisions"] >= 12 and unchanged["skipped"] == 0
    changed = cli(
        "policy", "replay", "--dir", str(candidate(tmp_path, ["send_email"])), "--json", "--show", "5", env=env
    )
    assert changed.returncode == 3, changed.stderr
    report = json.loads(changed.stdout)
    flipped = {r["decision_id"] for r in audit_rows(database_url) if r["event"] == "decision" and uses(r, "send_email")}
    assert len(flipped) == 3  # two answers asking for it, one request sending its result back
    assert report["changed"] == 3 and report["by_kind"] == {"allow->deny": 3}
    (group,) = report["groups"]
    assert group["why"] == "tool 'send_email' is on the risky tools list"
    assert group["agents"] == {"support-bot": 3} and group["targets"] == {"echo": 3}
    assert set(group["examples"]) == flipped
    table = cli("policy", "replay", "--dir", str(candidate(tmp_path, ["send_email"])), "--phase", "response", env=env)
    assert table.returncode == 3 and "2 would change" in table.stdout
    assert "allow->deny: tool 'send_email' is on the risky tools list  (2)" in table.stdout


def test_the_kept_input_hides_pii_unless_full_and_is_in_the_leaf(
    gateway_factory: Any, sqlite_url: str, tmp_path: Path
) -> None:
    gw = gateway_factory(sqlite_url, audit={"signing_key_env": "GATEWAY_TEST_AUDIT_KEY"})
    traffic(gw)
    rows = wait_until(lambda: audit_rows(sqlite_url), lambda rows: len(rows) >= 12)
    kept = [r["policy"] for r in rows if r["event"] == "decision" and r["phase"] == "request" and uses(r, "send_email")]
    assert [c["arguments"] for c in kept[0]["input"]["call"]["tool_calls"]] == [{"to": "<EMAIL_ADDRESS>"}]
    assert "jane@example.com" not in json.dumps(rows)
    cli("audit", "checkpoint", env=configured(tmp_path, sqlite_url), check=True)
    verified = cli("audit", "verify", env=configured(tmp_path, sqlite_url))
    assert verified.returncode == 0, verified.stdout + verified.stderr  # the kept inputs are in the leaves


def test_a_full_input_is_kept_as_the_policy_saw_it(gateway_factory: Any, sqlite_url: str) -> None:
    gw = gateway_factory(sqlite_url, audit={"keep_input": "full"})
    traffic(gw)
    rows = wait_until(lambda: audit_rows(sqlite_url), lambda rows: len(rows) >= 12)
    kept = [r["policy"] for r in rows if r["event"] == "decision" and r["phase"] == "request" and uses(r, "send_email")]
    assert [c["arguments"] for c in kept[0]["input"]["call"]["tool_calls"]] == [{"to": "jane@example.com"}]


def test_a_shadow_policy_records_what_it_would_change_and_never_enforces(
    gateway_factory: Any, database_url: str, tmp_path: Path
) -> None:
    sqlite_url = database_url  # both stores
    shadow = candidate(tmp_path, ["send_email"])
    gw = gateway_factory(sqlite_url, policy={"dir": str(POLICIES), "timeout_ms": 2000, "shadow": str(shadow)})
    traffic(gw)  # every call went through: the shadow policy is not enforced
    shadows = wait_until(
        lambda: [r for r in audit_rows(sqlite_url) if r["event"] == "shadow"], lambda found: len(found) == 3
    )
    assert all(r["reasons"] == ["allow->deny: tool 'send_email' is on the risky tools list"] for r in shadows)
    assert all(r["policy"]["shadow"]["allow"] is False and r["policy"]["decision"]["allow"] for r in shadows)
    metrics = httpx.get(f"{gw.url}/metrics").text
    assert 'gateway_shadow_disagreements_total{kind="allow->deny"} 3.0' in metrics
    report = cli("policy", "shadow-report", "--json", env=configured(tmp_path, sqlite_url))
    assert json.loads(report.stdout)["by_kind"] == {"allow->deny": 3}


def test_why_names_the_rules_that_fired_and_versions_are_kept(
    gateway_factory: Any, database_url: str, tmp_path: Path
) -> None:
    sqlite_url = database_url  # both stores
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    clock = FakeClock()
    audit = {"signing_key_env": "GATEWAY_TEST_AUDIT_KEY", "readers": ["audit"]}
    gw = gateway_factory(sqlite_url, clock, policy={"dir": str(policies), "timeout_ms": 2000}, audit=audit)
    agent = track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0))
    offered = [{"type": "function", "function": {"name": "transfer_funds", "parameters": {"type": "object"}}}]
    with pytest.raises(openai.PermissionDeniedError) as denied:
        agent.chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "/tool transfer_funds {}"}], tools=offered
        )
    decision_id = denied.value.body["decision_id"]
    env = configured(tmp_path, sqlite_url, dir=str(policies))
    why = cli("policy", "why", decision_id, env=env, check=True).stdout
    assert "tool 'transfer_funds' is on the risky tools list" in why
    assert "gateway/decision.rego:" in why and "deny contains" in why
    explained = json.loads(cli("policy", "why", decision_id, "--json", env=env, check=True).stdout)
    assert explained["same"] and explained["answer"]["allow"] is False
    assert any(
        f["rule"].startswith("deny contains") and f["location"].startswith("gateway/decision.rego:")
        for f in explained["fired"]
    )
    reader = _token(sqlite_url, "alice", ["audit"])
    api = httpx.get(f"{gw.url}/admin/api/decisions/{decision_id}/why", headers={"Authorization": f"Bearer {reader}"})
    assert api.status_code == 200 and api.json()["fired"] == explained["fired"]
    missing = httpx.get(f"{gw.url}/admin/api/decisions/nope/why", headers={"Authorization": f"Bearer {reader}"})
    assert missing.status_code == 404
    # a reloaded policy is a version of its own: both are kept, and the old decision still explains with its own
    data = json.loads((policies / "gateway/data.json").read_text())
    (policies / "gateway/data.json").write_text(json.dumps({**data, "risky_tools": ["send_email"]}))
    versions = wait_until(
        lambda: json.loads(cli("policy", "versions", "--json", env=env, check=True).stdout),
        lambda found: len(found) == 2,
        timeout_s=20,
        every_s=0.5,
    )
    assert all(v["files"] == ["gateway/decision.rego"] for v in versions)
    assert json.loads(cli("policy", "why", decision_id, "--json", env=env, check=True).stdout)["same"]


def test_a_batch_evaluation_answers_as_one_at_a_time_does() -> None:
    from gateway.policy.embedded import compile_source
    from gateway.policy.replay import decide, decide_many
    from gateway.policy.source import load_source
    from tests.test_policy_engines import generated_inputs

    inputs = [*generated_inputs()[:300], {"call": {"phase": "request"}}]  # the last: no principal at all
    for directory in (POLICIES, POLICIES.parent / "docs/examples/finance-approval"):
        program = compile_source(load_source(directory))
        assert decide_many(program, inputs) == [decide(program, doc) for doc in inputs]


@pytest.mark.parametrize("example", ["allow-lists", "budgets", "finance-approval", "pii-stays-internal"])
def test_each_worked_example_replays_its_own_records_exactly(
    gateway_factory: Any, sqlite_url: str, tmp_path: Path, example: str
) -> None:
    directory = POLICIES.parent / "docs/examples" / example
    gw = gateway_factory(sqlite_url, policy={"dir": str(directory), "timeout_ms": 2000})
    traffic(gw, refused_too=True)
    rows = wait_until(lambda: audit_rows(sqlite_url), lambda rows: sum(1 for r in rows if r["policy"]) >= 2)
    assert rows
    env = configured(tmp_path, sqlite_url, dir=str(directory))
    same = cli("policy", "replay", "--dir", str(directory), "--json", env=env)
    assert same.returncode == 0, same.stdout + same.stderr
    assert json.loads(same.stdout)["changed"] == 0
