"""Small helpers shared by the tests."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.audit.records import AuditLog
from gateway.store.db import Database


def audit_rows(database_url: str, wait_for: int = 0) -> list[dict[str, Any]]:
    """Audit rows, oldest first; waits briefly for `wait_for` rows (stream records land after the last byte)."""

    async def read() -> list[dict[str, Any]]:
        db = Database(database_url)
        try:
            return [row async for row in AuditLog(db).read()]
        finally:
            await db.aclose()

    deadline = time.monotonic() + 5
    rows = asyncio.run(read())
    while len(rows) < wait_for and time.monotonic() < deadline:
        time.sleep(0.05)
        rows = asyncio.run(read())
    return rows


_OPEN_CLIENTS: list[Any] = []


def track(client: Any) -> Any:
    """Remember an SDK client so the autouse fixture closes it (unclosed sockets fail the run)."""
    _OPEN_CLIENTS.append(client)
    return client


def close_clients() -> None:
    while _OPEN_CLIENTS:
        _OPEN_CLIENTS.pop().close()


_FENCE = re.compile(r"^```json[ \t]+(input|decision)(?:[ \t]+([\w-]+))?[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def documented_blocks(reference: Path) -> list[tuple[str, str | None, Any, int]]:
    """(kind, example or None, parsed JSON, line) for every ```json input|decision block of a doc."""
    text = reference.read_text()
    found = []
    for m in _FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        try:
            doc = json.loads(m.group(3))
        except ValueError as exc:
            pytest.fail(f"{reference.name}:{line}: ```json {m.group(1)} block is not JSON: {exc}")
        found.append((m.group(1), m.group(2), doc, line))
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gateway_env(config: Path) -> dict[str, str]:
    """This environment without the test run's GATEWAY_* settings, pointing `gateway` at `config`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_CONFIG"] = str(config)
    return env


@contextmanager
def serving(
    env: dict[str, str], workers: int = 1, cwd: Path | None = None, timeout_s: float = 30
) -> Iterator[tuple[str, subprocess.Popen[Any]]]:
    """`gateway serve` as a real process on a free loopback port: (its base URL, the process) once it is ready;
    stopped when the block ends (unless a test killed it)."""
    port = free_port()
    command = [sys.executable, "-m", "gateway", "serve", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(
        [*command, "--workers", str(workers)], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/readyz", proc, timeout_s)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


def wait_healthy(url: str, proc: subprocess.Popen[Any], timeout_s: float = 30) -> None:
    """Poll `url` until it answers 200; fail if the process dies or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"{url} did not become healthy (process exit code {proc.poll()})")
        time.sleep(0.05)


# a Responses function tool with `strict`, as the SDKs send it
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "strict": True,
}
