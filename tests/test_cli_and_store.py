"""The `gateway` command and the store, on SQLite and (when available) PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
from pathlib import Path

import openai
import pytest

from gateway.clock import FakeClock
from gateway.errors import ConfigError
from gateway.policy import go_rego
from gateway.settings import load_settings
from tests.conftest import POLICIES
from tests.helpers import track
from tests.processes import cli


def gateway_cli(*args: str, database_url: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GATEWAY_CONFIG": ""}
    if database_url:
        env["GATEWAY_DATABASE_URL"] = database_url
    return cli(*args, env=env, check=check)


def test_keys_create_prints_the_key_last_and_it_works(gateway_factory, database_url, tmp_path: Path):
    gw = gateway_factory(database_url)
    out = gateway_cli("keys", "create", "--agent", "billing-bot", "--team", "finance", database_url=database_url)
    key = out.stdout.strip().splitlines()[-1]
    assert key.startswith("agk_")
    client = track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0))
    client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
    listing = gateway_cli("keys", "list", database_url=database_url).stdout
    assert "billing-bot" in listing and key not in listing

    mine = ("--agent", "billing-bot")  # each export is itself an event (`kind: read`): only the agent's calls
    exported = gateway_cli("audit", "export", "--format", "jsonl", *mine, database_url=database_url).stdout
    rows = [json.loads(line) for line in exported.splitlines()]
    assert [(r["agent"], r["team"], r["phase"]) for r in rows] == [
        ("billing-bot", "finance", "request"),
        ("billing-bot", "finance", "response"),
    ]
    as_csv = list(
        csv.DictReader(
            io.StringIO(gateway_cli("audit", "export", "--format", "csv", *mine, database_url=database_url).stdout)
        )
    )
    assert len(as_csv) == 2 and as_csv[0]["decision_id"] == rows[0]["decision_id"]
    assert (
        gateway_cli("audit", "export", "--since", "2999-01-01T00:00:00+00:00", database_url=database_url).stdout == ""
    )
    target = tmp_path / "audit.csv"
    gateway_cli("audit", "export", "--format", "csv", "--out", str(target), *mine, database_url=database_url)
    assert list(csv.DictReader(io.StringIO(target.read_text()))) == as_csv


def test_revoked_key_stops_working_within_5_seconds(gateway_factory, sqlite_url):
    """As the README says: revoked from another process, the key stops working within 5 seconds."""
    gw = gateway_factory(sqlite_url, FakeClock())
    client = track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0))

    def works() -> bool:
        try:
            client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
            return True
        except openai.AuthenticationError:
            return False

    assert works()  # the key is now in the gateway's lookup cache
    gateway_cli("keys", "revoke", "--agent", "support-bot", database_url=sqlite_url)
    gw.clock.advance(5.0)  # the lookup cache's life
    assert not works()


def test_unknown_config_key_is_an_error_naming_key_and_file(tmp_path: Path):
    config = tmp_path / "gateway.yaml"
    config.write_text("providers:\n  local: {kind: openai, base_url: http://x, api_kee_env: K}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, env={})
    assert f"{config}: unknown key 'providers.local.api_kee_env'" in info.value.message
    result = gateway_cli("keys", "list", "--config", str(config), check=False)
    assert result.returncode == 2 and "api_kee_env" in result.stderr


def test_route_naming_a_missing_provider_is_rejected(tmp_path: Path):
    config = tmp_path / "gateway.yaml"
    config.write_text("routes:\n  m: {provider: nowhere, model: x}\n")
    with pytest.raises(ConfigError, match="names provider 'nowhere'"):
        load_settings(config, env={})


def test_config_paths_are_relative_to_the_file_and_env_overrides_database(tmp_path: Path):
    config = tmp_path / "gateway.yaml"
    config.write_text("policy: {dir: pol}\n")
    settings = load_settings(config, env={"GATEWAY_DATABASE_URL": "sqlite+aiosqlite:///x.db"})
    assert settings.policy.dir == tmp_path / "pol" and settings.database_url == "sqlite+aiosqlite:///x.db"


def test_policy_cli_check_test_eval(tmp_path: Path):
    assert "ok:" in gateway_cli("policy", "check", str(POLICIES)).stdout
    tested = gateway_cli("policy", "test", str(POLICIES)).stdout
    rules = {m for f in POLICIES.rglob("*_test.rego") for m in re.findall(r"^test_\w+", f.read_text(), re.M)}
    assert len(rules) >= 13 and f"PASS: {len(rules)}/{len(rules)}" in tested  # every test rule ran and passed
    doc = {
        "principal": {"agent": "a", "team": "t", "key_id": "k"},
        "routes": ["echo"],
        "pii": [],
        "call": {"kind": "model", "phase": "request", "surface": "openai", "target": "echo", "tool_calls": []},
    }
    (tmp_path / "in.json").write_text(json.dumps(doc))
    evaluated = json.loads(
        gateway_cli("policy", "eval", "--input", str(tmp_path / "in.json"), "--dir", str(POLICIES)).stdout
    )
    assert evaluated["answer"] == {
        "allow": True,
        "reasons": [],
        "hold": None,
        "redact": [],
        "route": None,
        "hosted_tools": [],
        "redact_output": [],  # the input names no redactable type
    }
    decision = evaluated["decision"]
    assert (decision["allow"], decision["reasons"], decision["hold"], decision["error"]) == (True, [], None, None)
    assert decision["policy_version"]
    assert evaluated["plan"] == {"action": "allow", "reasons": [], "redact": [], "hold": None, "route": None}
    assert evaluated["elapsed_ms"] >= 0


def test_policy_test_reports_failures_with_exit_1(tmp_path: Path):
    (tmp_path / "p.rego").write_text("package gateway\nimport rego.v1\ndecision := {}\n")
    (tmp_path / "p_test.rego").write_text(
        "package gateway_test\nimport rego.v1\ntest_fails if { 1 == 2 }\ntest_passes if { 1 == 1 }\n"
    )
    result = gateway_cli("policy", "test", str(tmp_path), check=False)
    assert result.returncode == 1
    assert "data.gateway_test.test_fails: FAIL" in result.stdout and "PASS: 1/2" in result.stdout


def test_policy_check_reports_compile_errors_with_location(tmp_path: Path):
    (tmp_path / "p.rego").write_text("package gateway\nimport rego.v1\ndecision := {\n")
    result = gateway_cli("policy", "check", str(tmp_path), check=False)
    assert result.returncode == 1 and "p.rego" in result.stderr


def _runtime_config(tmp_path: Path, runtime: str) -> str:
    config = tmp_path / f"{runtime}.yaml"
    config.write_text(f"policy: {{runtime: {runtime}}}\n")
    return str(config)


def test_policy_check_on_rego_cpp_refuses_unsupported_builtins(tmp_path: Path):
    (tmp_path / "p.rego").write_text(
        'package gateway\nimport rego.v1\n\ninternal if net.cidr_contains("10.0.0.0/8", input.ip)\n'
        'decision := {"allow": internal, "reasons": [], "hold": null, "redact": [], "route": null}\n'
    )
    config = _runtime_config(tmp_path, "rego-cpp")
    result = gateway_cli("policy", "check", str(tmp_path), "--config", config, check=False)
    assert result.returncode == 1
    assert f"{tmp_path / 'p.rego'}:4: builtin 'net.cidr_contains' is not supported" in result.stderr
    assert "engine: opa" in result.stderr
    if go_rego.AVAILABLE:  # OPA's own engine has every builtin OPA has
        assert gateway_cli("policy", "check", str(tmp_path), check=False).returncode == 0


def test_policy_test_on_rego_cpp_survives_a_test_that_crashes_the_engine(tmp_path: Path):
    policy = 'package gateway\nimport rego.v1\ndeny contains concat("", ["a ", input.x]) if true\n'
    (tmp_path / "p.rego").write_text(policy)
    (tmp_path / "p_test.rego").write_text(
        "package gateway_test\nimport rego.v1\nimport data.gateway\n"
        'test_whole_input if { d := gateway.deny with input as {"x": "y"}\n count(d) == 1 }\n'
        'test_field if { d := gateway.deny with input.x as "y"\n count(d) == 1 }\n'
    )
    config = _runtime_config(tmp_path, "rego-cpp")
    result = gateway_cli("policy", "test", str(tmp_path), "--config", config, check=False)
    assert result.returncode == 1
    assert "engine crashed" in result.stderr + result.stdout and "with input.call as" in result.stderr + result.stdout
    if go_rego.AVAILABLE:  # OPA's own engine runs both
        passed = gateway_cli("policy", "test", str(tmp_path), check=False)
        assert passed.returncode == 0 and "PASS: 2/2" in passed.stdout, passed.stdout + passed.stderr


@pytest.mark.parametrize(
    ("runtime", "expected"),
    [
        ("rego-cpp", ":3:13: rego_parse_error: this is unclosed"),
        ("opa-go", ":4: rego_parse_error: unexpected eof token"),
    ],
)
def test_policy_check_errors_read_like_opa(tmp_path: Path, runtime: str, expected: str):
    if runtime == "opa-go" and not go_rego.AVAILABLE:
        pytest.skip("opa-golib-python-bindings is not installed")
    (tmp_path / "p.rego").write_text("package gateway\nimport rego.v1\ndecision := {\n")
    config = _runtime_config(tmp_path, runtime)
    result = gateway_cli("policy", "check", str(tmp_path), "--config", config, check=False)
    assert result.returncode == 1 and f"{tmp_path / 'p.rego'}{expected}" in result.stderr, result.stderr
    assert result.stdout == ""  # the engine's own report is silenced


async def test_key_lookup_with_the_store_down_is_a_503_not_a_pass(tmp_path: Path):
    from gateway.errors import StoreUnavailable
    from gateway.store.db import Database
    from gateway.store.keys import KeyStore

    db = Database(f"sqlite+aiosqlite:///{tmp_path}/never-migrated.db")  # no tables: every query fails
    try:
        with pytest.raises(StoreUnavailable) as info:
            await KeyStore(db).lookup("agk_anything")
    finally:
        await db.aclose()
    assert info.value.status == 503


def test_key_labels_reach_the_policy_input(gateway_factory, sqlite_url, tmp_path: Path):
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "p.rego").write_text(
        "package gateway\n\nimport rego.v1\n\n"
        'decision := {"allow": input.principal.labels.env == "prod", "reasons": [], "hold": null, "redact": [],'
        ' "route": null}\n'
    )
    gw = gateway_factory(sqlite_url, policy={"dir": str(policies)})
    out = gateway_cli(
        "keys", "create", "--agent", "a", "--label", "env=prod", "--label", "tier=1", database_url=sqlite_url
    )
    prod = track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=out.stdout.strip().splitlines()[-1], max_retries=0))
    assert prod.chat.completions.create(model="echo", messages=[{"role": "user", "content": "x"}]).choices
    other = track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0))  # no labels
    with pytest.raises(openai.PermissionDeniedError):
        other.chat.completions.create(model="echo", messages=[{"role": "user", "content": "x"}])
    bad = gateway_cli("keys", "create", "--agent", "a", "--label", "oops", database_url=sqlite_url, check=False)
    assert bad.returncode == 2 and "KEY=VALUE" in bad.stderr
