#!/usr/bin/env python3
"""Decision latency of both policy engines on the shipped policies: P50/P99 per decision.

    python bench/policy_latency.py [--n 3000] [--opa PATH]

`embedded` is the regopy engine as the gateway calls it (`evaluate`: on the event loop's thread) and
`embedded-sync` its `evaluate_sync` called directly (the same work now: there is no thread hop); `opa` is a
real `opa run --server` on loopback queried through opa-python-client.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.opa import OpaEngine
from gateway.policy.source import load_source
from gateway.settings import PolicyConfig

POLICIES = Path(__file__).resolve().parents[1] / "policies"
INPUT: dict[str, Any] = {
    "principal": {"agent": "support-bot", "team": "cs", "key_id": "k1", "labels": {}, "end_user": None},
    "call": {
        "kind": "model",
        "phase": "response",
        "surface": "openai",
        "target": "echo",
        "stream": False,
        "tool_calls": [{"id": "c1", "name": "get_weather", "arguments": {"city": "Paris"}}],
        "tools": [],
    },
    "pii": [],
    "routes": ["echo", "gpt-4o-mini"],
}


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


async def measure(n: int, call: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    for _ in range(min(200, n)):
        await call()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


def start_opa(binary: str) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "run", "--server", "--addr", f"127.0.0.1:{port}", "--log-level", "error"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("opa did not start")


async def _embedded(n: int, engine: EmbeddedEngine, name: str) -> list[tuple[str, float, float]]:
    """The evaluation called directly, and as the gateway calls it."""
    direct = await measure(n, lambda: asyncio.sleep(0, engine.evaluate_sync(engine._compiled, INPUT)))
    gateway = await measure(n, lambda: engine.evaluate(INPUT))
    await engine.aclose()
    return [(f"{name}-sync", *direct), (name, *gateway)]


async def run(n: int, opa_binary: str | None) -> list[tuple[str, float, float]]:
    source = load_source(POLICIES)
    rows = []
    for runtime in ("opa-go", "rego-cpp"):  # the embedded engine's runtimes: OPA's Go engine, rego-cpp
        rows += await _embedded(n, EmbeddedEngine(source, runtime=runtime), runtime)
    if opa_binary:
        proc, url = start_opa(opa_binary)
        try:
            opa = await OpaEngine.start(PolicyConfig(engine="opa", opa_url=url, timeout_ms=5000), source)
            rows.append(("opa (loopback)", *await measure(n, lambda: opa.evaluate(INPUT))))
            await opa.aclose()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--opa", default=shutil.which("opa") or str(Path.home() / "go/bin/opa"))
    args = parser.parse_args()
    opa = args.opa if Path(args.opa).is_file() else None
    print(f"{'engine':<16} {'P50 ms':>8} {'P99 ms':>8}   ({args.n} decisions, default policy)")
    for name, p50, p99 in asyncio.run(run(args.n, opa)):
        print(f"{name:<16} {p50:>8.3f} {p99:>8.3f}")
    if not opa:
        print("opa: skipped (no opa binary; go install github.com/open-policy-agent/opa@v1.22.3)")


if __name__ == "__main__":
    main()
