"""`gateway serve` as a real process on its embedded defaults, driven by the official SDKs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from tests.conftest import POLICIES
from tests.helpers import track
from tests.processes import cli, free_port, gateway_env, serve

pytestmark = pytest.mark.e2e


@pytest.fixture
def served(tmp_path: Path):
    shutil.copytree(POLICIES, tmp_path / "policies")
    # the command's defaults: a worker per core (each listens once it has started), info logs with the banner
    with serve(
        gateway_env(),
        workers=None,
        cwd=tmp_path,
        log_level=None,
        timeout_s=60,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    ) as server:
        yield server.url, server.read_until("Uvicorn running")


def test_serve_on_embedded_defaults_prints_key_and_answers(served, tmp_path):
    url, banner = served
    key = re.search(r"Demo agent key .*: (agk_\S+)", banner).group(1)
    assert f"{url}/v1/chat/completions" in banner  # the copy-paste example call
    assert (tmp_path / "gateway.db").exists()
    client = track(openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0))
    assert (
        client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
        .choices[0]
        .message.content
        == "echo: hi"
    )
    claude = track(anthropic.Anthropic(base_url=url, api_key=key, max_retries=0))
    assert (
        claude.messages.create(model="echo", max_tokens=10, messages=[{"role": "user", "content": "yo"}])
        .content[0]
        .text
        == "echo: yo"
    )
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{url}/readyz").json()["checks"] == {"database": True, "policy": True}


@pytest.mark.parametrize(
    ("runtime", "call"), [("auto", "nosuch.builtin"), ("rego-cpp", "http.send"), ("rego-cpp", "nosuch.builtin")]
)
def test_serve_refuses_a_policy_the_embedded_engine_cannot_run(tmp_path, runtime, call):
    """A function the runtime does not have is refused at start, naming file and line (OPA's Go engine has every
    builtin OPA has, http.send among them; rego-cpp lacks some)."""
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies/p.rego").write_text(f"package gateway\nimport rego.v1\nx if {call}({{}})\n")
    (tmp_path / "gateway.yaml").write_text(f"policy: {{dir: policies, runtime: {runtime}}}\n")
    result = cli("serve", "--config", "gateway.yaml", "--port", str(free_port()), cwd=tmp_path, timeout_s=60)
    assert result.returncode == 1 and call in result.stderr and "p.rego:3" in result.stderr


def test_serve_with_a_config_file_on_each_store(tmp_path, database_url):
    """The way an operator runs it: a config file, a key from the CLI, an SDK agent, an audit export."""
    (tmp_path / "gateway.yaml").write_text(
        f"database_url: {database_url}\n"
        f"policy: {{dir: {POLICIES}}}\n"
        "pii: {key_file: pii.key}\n"
        "approvals: {key_file: approvals.key}\n"
        "providers: {demo: {kind: echo}}\n"
        "routes: {assistant: {provider: demo, model: echo}}\n"
    )
    env = gateway_env(tmp_path / "gateway.yaml")
    created = cli("keys", "create", "--agent", "ops-bot", "--team", "ops", env=env, check=True, timeout_s=60)
    key = created.stdout.strip().splitlines()[-1]
    with serve(env, workers=None) as server:
        client = track(openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0))
        reply = client.chat.completions.create(model="assistant", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "echo: hi"
    exported = cli("audit", "export", "--format", "jsonl", env=env, check=True, timeout_s=60).stdout
    rows = [json.loads(line) for line in exported.splitlines()]
    assert [(r["agent"], r["phase"], r["allow"]) for r in rows] == [
        ("ops-bot", "request", True),
        ("ops-bot", "response", True),
    ]


def test_serve_with_an_unreachable_opa_exits_with_one_clear_line(tmp_path):
    port = free_port()  # nothing listens there
    (tmp_path / "gateway.yaml").write_text(
        f"database_url: sqlite+aiosqlite:///{tmp_path}/g.db\n"
        f"policy: {{engine: opa, opa_url: 'http://127.0.0.1:{port}', dir: {POLICIES}}}\n"
    )
    result = cli("serve", "--config", str(tmp_path / "gateway.yaml"), "--port", str(free_port()), timeout_s=60)
    assert result.returncode == 1
    assert f"error: cannot push policies to OPA at http://127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
