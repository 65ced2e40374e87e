"""Held calls across real gateway processes: a restart (kill -9) loses nothing and releases once; two
replicas on one PostgreSQL share the queue, and an approval on one releases the call waiting on the other."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import _postgres_url, _reset_postgres
from tests.helpers import audit_rows, wait_until
from tests.processes import cli, gateway_env, serve

pytestmark = pytest.mark.e2e

HOLD_ASSISTANT = """package gateway

import rego.v1

default decision := {"allow": true, "reasons": [], "hold": null, "redact": [], "route": null}

decision := {
    "allow": true, "reasons": [], "hold": {"reason": "needs sign-off", "approvers": "finance"},
    "redact": [], "route": null,
} if {
    input.call.phase == "request"
    input.call.target == "assistant"
}
"""
BODY = {"model": "assistant", "messages": [{"role": "user", "content": "pay the invoice"}]}


class Deployment:
    """A config on disk and the gateway processes serving it."""

    def __init__(self, tmp_path: Path, database_url: str, poll_s: float = 0.5) -> None:
        (tmp_path / "policies").mkdir()
        (tmp_path / "policies" / "hold.rego").write_text(HOLD_ASSISTANT)
        (tmp_path / "gateway.yaml").write_text(
            f"database_url: {database_url}\n"
            "policy: {dir: policies, reload: false}\n"
            "pii: {key_file: pii.key}\n"
            f"approvals: {{key_file: approvals.key, poll_s: {poll_s}, timeout_s: 120}}\n"
            "providers: {demo: {kind: echo}}\n"
            "routes: {assistant: {provider: demo, model: echo}}\n"
        )
        self.env = gateway_env(tmp_path / "gateway.yaml")
        self.database_url = database_url
        self.servers = ExitStack()

    def cli(self, *args: str, stdin: str | None = None) -> str:
        out = cli(*args, env=self.env, stdin=stdin, check=True, timeout_s=60).stdout.strip()
        return out.splitlines()[-1] if out else ""

    def serve(self, port: int | None = None) -> tuple[str, subprocess.Popen[Any]]:
        server = self.servers.enter_context(serve(self.env, port=port))
        return server.url, server.proc

    def stop(self) -> None:
        self.servers.close()


@pytest.fixture
def deployment_factory():
    made: list[Deployment] = []

    def make(*args: Any, **kwargs: Any) -> Deployment:
        made.append(Deployment(*args, **kwargs))
        return made[-1]

    yield make
    for deployment in made:
        deployment.stop()


def test_a_held_call_survives_kill_9_and_is_released_exactly_once(tmp_path, deployment_factory):
    gw = deployment_factory(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/gateway.db")
    key = gw.cli("keys", "create", "--agent", "payments-bot")
    gw.cli("reviewers", "add", "fiona", "--group", "finance", "--password-stdin", stdin="correct horse\n")
    url, proc = gw.serve()
    port = int(url.rsplit(":", 1)[1])
    auth = {"authorization": f"Bearer {key}"}
    held = httpx.post(f"{url}/v1/chat/completions", json=BODY, headers={**auth, "prefer": "respond-async"}, timeout=30)
    assert held.status_code == 202
    approval_id = held.json()["id"]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    url, _ = gw.serve(port)  # the same address the agent knows
    assert httpx.get(f"{url}/v1/approvals/{approval_id}", headers=auth, timeout=10).json()["status"] == "pending"
    gw.cli("approvals", "approve", approval_id, "--as", "fiona", "--comment", "ok")
    retry = httpx.post(f"{url}/v1/chat/completions", json=BODY, headers={**auth, "x-gateway-approval": approval_id})
    assert retry.status_code == 200 and retry.json()["choices"][0]["message"]["content"] == "echo: pay the invoice"
    again = httpx.post(f"{url}/v1/chat/completions", json=BODY, headers={**auth, "x-gateway-approval": approval_id})
    assert again.status_code == 403 and again.json()["error"]["code"] == "approval_refused"
    events = [r["event"] for r in audit_rows(gw.database_url) if r["approval_id"] == approval_id]
    assert events.count("held") == 1 and events.count("approved") == 1 and events.count("released") == 1


def test_an_agent_waiting_through_a_restart_retries_and_proceeds(tmp_path, deployment_factory):
    gw = deployment_factory(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/gateway.db")
    key = gw.cli("keys", "create", "--agent", "payments-bot")
    gw.cli("reviewers", "add", "fiona", "--group", "finance", "--no-password")
    url, proc = gw.serve()
    port = int(url.rsplit(":", 1)[1])
    auth = {"authorization": f"Bearer {key}"}
    waiting = threading.Thread(
        target=lambda: _swallow(lambda: httpx.post(f"{url}/v1/chat/completions", json=BODY, headers=auth, timeout=30))
    )
    waiting.start()
    approval_id = _pending_id(gw)
    proc.send_signal(signal.SIGKILL)  # the waiting agent's connection breaks
    proc.wait(timeout=10)
    waiting.join(timeout=30)
    url, _ = gw.serve(port)
    gw.cli("approvals", "approve", approval_id, "--as", "fiona")
    retry = httpx.post(f"{url}/v1/chat/completions", json=BODY, headers=auth, timeout=30)  # the same call again
    assert retry.status_code == 200 and retry.headers["x-gateway-decision-id"]
    rows = [r for r in audit_rows(gw.database_url) if r["approval_id"] == approval_id]
    assert [r["event"] for r in rows].count("released") == 1


def test_two_replicas_share_the_queue_and_release_within_a_second(tmp_path, deployment_factory):
    url_pg = _postgres_url()
    asyncio.run(_reset_postgres(url_pg))
    # polling so slow that only LISTEN/NOTIFY can release the call in time
    gw = deployment_factory(tmp_path, url_pg, poll_s=30)
    key = gw.cli("keys", "create", "--agent", "payments-bot")
    gw.cli("reviewers", "add", "fiona", "--group", "finance", "--no-password")
    token = gw.cli("reviewers", "token", "fiona")
    url_a, _ = gw.serve()
    url_b, _ = gw.serve()
    result: dict[str, Any] = {}

    def agent() -> None:
        response = httpx.post(
            f"{url_a}/v1/chat/completions", json=BODY, headers={"authorization": f"Bearer {key}"}, timeout=60
        )
        result["response"], result["at"] = response, time.monotonic()

    waiting = threading.Thread(target=agent)
    waiting.start()
    approval_id = _pending_id(gw)
    listed = httpx.get(f"{url_b}/admin/api/approvals", headers={"authorization": f"Bearer {token}"}, timeout=10)
    assert approval_id in [a["id"] for a in listed.json()["data"]]
    approved = httpx.post(
        f"{url_b}/admin/api/approvals/{approval_id}/approve",
        json={"comment": "from replica B"},
        headers={"authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert approved.status_code == 200, approved.text
    decided_at = time.monotonic()
    waiting.join(timeout=30)
    assert result["response"].status_code == 200
    assert result["at"] - decided_at < 3  # NOTIFY, not the 30 s poll (generous for a shared CI machine)


def _pending_id(gw: Deployment, timeout: float = 20) -> str:
    def listed() -> subprocess.CompletedProcess[str]:
        return cli("approvals", "list", "--status", "pending", "--json", env=gw.env, timeout_s=60)

    def found(done: subprocess.CompletedProcess[str]) -> bool:
        return done.returncode == 0 and '"approval_id"' in done.stdout

    done = wait_until(listed, found, timeout, 0.2, "no pending approval appeared")
    return str(json.loads(done.stdout)[0]["approval_id"])


def _swallow(work: Any) -> None:
    try:
        work()
    except httpx.HTTPError:
        pass  # the gateway was killed under the waiting agent
