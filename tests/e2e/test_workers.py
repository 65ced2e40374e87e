"""`gateway serve --workers 2`: two processes share the port, the store, the policy's hot reload and the metrics."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import POLICIES
from tests.helpers import wait_until
from tests.processes import cli, gateway_env, serve

pytestmark = pytest.mark.e2e

DENY_ALL = """package gateway
import rego.v1

decision := {"allow": false, "reasons": ["closed for maintenance"], "hold": null, "redact": [], "route": null}
"""


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


async def chat(url: str, key: str, count: int) -> list[int]:
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)

    async def one() -> int:
        try:
            await client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
            return 200
        except openai.APIStatusError as exc:
            return exc.status_code

    async with client:
        return list(await asyncio.gather(*(one() for _ in range(count))))


def configured(tmp_path: Path, database_url: str) -> dict[str, str]:
    """The default policies and an echo route in `tmp_path`, with keys beside them; the environment for it."""
    shutil.copytree(POLICIES, tmp_path / "policies")
    (tmp_path / "gateway.yaml").write_text(
        f"database_url: {database_url}\npolicy: {{dir: policies}}\n"
        "pii: {key_file: pii.key}\napprovals: {key_file: approvals.key}\naudit: {signing_key_file: audit.key}\n"
        "providers: {demo: {kind: echo}}\nroutes: {echo: {provider: demo, model: echo}}\n"
    )
    return gateway_env(tmp_path / "gateway.yaml")


def test_two_workers_share_the_store_the_policy_and_the_metrics(tmp_path, database_url):
    env = configured(tmp_path, database_url)
    key = cli("keys", "create", "--agent", "a", env=env).stdout.strip().splitlines()[-1]
    with serve(env, workers=2, cwd=tmp_path, timeout_s=90) as server:
        url = server.url
        assert len(children(server.proc.pid)) >= 2  # the workers (uvicorn may add a resource tracker)
        assert asyncio.run(chat(url, key, 60)) == [200] * 60
        # whichever worker answers the scrape, the counters are both workers' sums
        for _ in range(4):
            metrics = httpx.get(f"{url}/metrics").text
            assert 'gateway_requests_total{outcome="ok",surface="openai"} 60.0' in metrics
        # a policy change reaches every worker (each watches the folder)
        (tmp_path / "policies/gateway/decision_test.rego").unlink()
        (tmp_path / "policies/gateway/decision.rego").write_text(DENY_ALL)
        denied = [403] * 20
        wait_until(lambda: asyncio.run(chat(url, key, 20)), denied.__eq__, 30, 0.5, "a worker kept the old policy")
    verified = cli("audit", "verify", env=env, timeout_s=60)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    events = int(re.search(r"ok: (\d+) events", verified.stdout).group(1))
    assert events >= 60 * 2 + 20  # every call's request and response decisions, and the denials, in one tree


def test_workers_end_when_the_server_process_is_killed(tmp_path):
    """`kill -9` of `gateway serve` cannot stop its workers: they notice and stop themselves, so nothing answers
    on the port shortly after, and a new start binds it."""
    env = configured(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/gw.db")
    with serve(env, workers=2, cwd=tmp_path, timeout_s=90) as server:
        workers = children(server.proc.pid)
        server.proc.kill()
        server.proc.wait()
        # the workers look every 0.1 s; the bound is for a loaded machine
        failure = "the workers went on serving the port after their server was killed"
        wait_until(lambda: _refused(f"{server.url}/healthz"), timeout_s=10, failure=failure)
        for pid in workers:  # and they exit
            wait_until(lambda pid=pid: _gone(pid), timeout_s=10, failure=f"worker {pid} did not exit")
    with serve(env, port=server.port, cwd=tmp_path, timeout_s=60):
        pass  # a new start binds the port


def _refused(url: str) -> bool:
    try:
        httpx.get(url, timeout=0.5)
    except httpx.ConnectError:
        return True
    except httpx.TransportError:  # accepted by a worker that is closing: not yet refused
        pass
    return False


def _gone(pid: int) -> bool:
    """Exited (perhaps not yet reaped: a zombie)."""
    status = Path(f"/proc/{pid}/stat")
    try:
        return "Z" in status.read_text().split()[2]
    except OSError:  # gone
        return True
