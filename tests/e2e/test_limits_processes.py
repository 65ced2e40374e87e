"""Limits hold across processes, as the peers' users found theirs did not: 4 workers on SQLite and 2 replicas on
PostgreSQL, 200 calls at once against `requests: 50 per 1m` (exactly 50 pass), and against a money budget that
allows 20 calls (at most 20 pass, and the settled spend is the sum of their reported usage, to the nano-dollar)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.base import ChatRequest, Message
from connectors.echo import EchoConnector
from gateway.limits.limiter import Limiter, Limits
from gateway.store.db import Database
from tests.conftest import POLICIES
from tests.processes import cli, gateway_env, serve

pytestmark = pytest.mark.e2e
PRICE = {"input": 0.15, "output": 0.6}
TEXT = "please summarise the quarterly figures for the board"


def configured(tmp_path: Path, database_url: str, limits: str) -> dict[str, str]:
    shutil.copytree(POLICIES, tmp_path / "policies")
    (tmp_path / "gateway.yaml").write_text(
        f"database_url: {database_url}\npolicy: {{dir: policies}}\n"
        "pii: {key_file: pii.key}\napprovals: {key_file: approvals.key}\naudit: {signing_key_file: audit.key}\n"
        "providers: {demo: {kind: echo}}\nroutes: {echo: {provider: demo, model: echo}}\n"
        f"prices: {{echo: {{input: {PRICE['input']}, output: {PRICE['output']}}}}}\n"
        f"limits:\n{limits}"
    )
    return gateway_env(tmp_path / "gateway.yaml")


def agent_key(env: dict[str, str]) -> str:
    created = cli("keys", "create", "--agent", "runaway", "--team", "research", env=env, check=True)
    return created.stdout.strip().splitlines()[-1]


@contextlib.contextmanager
def replicas(env: dict[str, str], tmp_path: Path, count: int, workers: int) -> Iterator[list[str]]:
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(serve(env, workers=workers, cwd=tmp_path, timeout_s=90)) for _ in range(count)]
        yield [server.url for server in servers]


async def burst(urls: list[str], key: str, count: int) -> list[tuple[int, dict[str, Any]]]:
    body = {"model": "echo", "max_tokens": 64, "messages": [{"role": "user", "content": TEXT}]}
    headers = {"authorization": f"Bearer {key}"}
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=u, headers=headers, timeout=120)) for u in urls
        ]

        async def one(n: int) -> tuple[int, dict[str, Any]]:
            answer = await clients[n % len(clients)].post("/v1/chat/completions", json=body)
            return answer.status_code, answer.json()

        return list(await asyncio.gather(*(one(n) for n in range(count))))


def inside_one_minute() -> None:
    """Start a burst early in a minute, so that a fixed window of a minute holds all of it."""
    second = time.time() % 60
    if second > 48:  # a burst takes well under 10 s
        time.sleep(60 - second + 0.2)


async def spend_counter(database_url: str) -> tuple[int, int]:
    db = Database(database_url)
    try:
        rows = await Limiter(db, Limits()).counters()
    finally:
        await db.aclose()
    found = [(r.used, r.reserved) for r in rows if r.measure == "spend"]
    return found[0] if found else (0, 0)


def nano(usage: dict[str, int]) -> int:
    cost = (
        Decimal(str(PRICE["input"])) * usage["prompt_tokens"]
        + Decimal(str(PRICE["output"])) * usage["completion_tokens"]
    )
    return int(cost * 1000)


def processes(database_url: str) -> tuple[int, int]:
    """(replicas, workers each): 4 workers on one SQLite file, or 2 replicas sharing PostgreSQL."""
    return (1, 4) if database_url.startswith("sqlite") else (2, 1)


def test_two_hundred_calls_at_once_against_fifty_a_minute(tmp_path, database_url):
    count, workers = processes(database_url)
    limits = "  - match: {team: research}\n    requests: {per: 1m, max: 50}\n"
    env = configured(tmp_path, database_url, limits)
    key = agent_key(env)
    with replicas(env, tmp_path, count, workers) as urls:
        inside_one_minute()
        answers = asyncio.run(burst(urls, key, 200))
    statuses = [status for status, _ in answers]
    assert statuses.count(200) == 50 and statuses.count(429) == 150
    assert {body["error"]["code"] for status, body in answers if status == 429} == {"rate_limited"}


def test_a_money_budget_for_twenty_calls_holds_across_processes(tmp_path, database_url):
    count, workers = processes(database_url)
    request = ChatRequest(model="echo", max_tokens=64, messages=[Message(role="user", content=TEXT)])
    usage = asyncio.run(EchoConnector("echo").complete(request, timeout=5)).usage  # what the demo upstream reports
    cost = nano({"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens})
    budget = Decimal(20 * cost) / Decimal(1_000_000_000) + Decimal(cost) / Decimal(2_000_000_000)
    limits = f"  - match: {{team: research}}\n    name: budget\n    spend_usd: {{per: day, max: {budget}}}\n"
    env = configured(tmp_path, database_url, limits)
    key = agent_key(env)
    with replicas(env, tmp_path, count, workers) as urls:
        answers = asyncio.run(burst(urls, key, 200))
    ok = [body for status, body in answers if status == 200]
    assert 1 <= len(ok) <= 20, answers[:3]
    assert {body["error"]["code"] for status, body in answers if status != 200} == {"budget_exceeded"}
    used, reserved = asyncio.run(spend_counter(database_url))
    assert reserved == 0
    assert used == sum(nano(body["usage"]) for body in ok)  # settled, every call, to the nano-dollar
