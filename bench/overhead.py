#!/usr/bin/env python3
"""How much latency the gateway adds over calling the same upstream directly.

Starts a static OpenAI-compatible upstream (bench/upstream.py) and the gateway (SQLite in a temp dir, the
repo's policies/, one route `bench` -> that upstream) as subprocesses on free loopback ports, then sends
the same chat completion to both with one keep-alive httpx.AsyncClient at each concurrency and prints
P50/P99 latency, the difference, and the gateway's throughput.

    python bench/overhead.py                     # c=1: 2000 requests, c=16: 4000 requests, 200 warm-up each
    python bench/overhead.py --requests 500 --warmup 50 --budget 10

Each measurement stops starting requests after --budget seconds (default 30), so a slow gateway keeps the
whole run near two minutes; the `requests` column shows how many were measured.

Client, gateway and upstream all run on this machine and share its cores, so the numbers are an upper
bound on the overhead and a lower bound on the throughput of a gateway with a machine of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
DEFAULT_REQUESTS = {1: 2000, 16: 4000}
BODY = {"model": "bench", "messages": [{"role": "user", "content": "hello"}]}
READY_TIMEOUT_S = 30.0


@dataclass
class Run:
    latencies_ms: list[float]
    wall_s: float
    server_cpu_s: float | None = None  # CPU time the server process used during the measured requests

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
        return ordered[index]

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.wall_s

    @property
    def cpu_ms_per_request(self) -> float | None:
        return None if self.server_cpu_s is None else self.server_cpu_s * 1000 / len(self.latencies_ms)


@dataclass
class Target:
    url: str
    pid: int


@dataclass
class Row:
    concurrency: int
    direct: Run
    gateway: Run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Latency the gateway adds over a direct call to the same upstream.")
    parser.add_argument(
        "--requests",
        type=int,
        default=None,
        help="measured requests per concurrency and target (default: 2000 at c=1, 4000 at c=16)",
    )
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured requests first (default 200)")
    parser.add_argument(
        "--budget",
        type=float,
        default=30.0,
        help="seconds after which a measurement (or warm-up) starts no new request (default 30)",
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16], help="levels (default: 1 16)")
    parser.add_argument(
        "--prompt-chars",
        type=int,
        default=0,
        help="a user message of this many characters with a PII value every ~250 (default: 'hello')",
    )
    return parser.parse_args(argv)


PROSE = "We went through the proposal with the team and have a few questions on pricing and the rollout plan. "
VALUES = ["jane.roe@example.com", "(415) 555-2671", "4111 1111 1111 1111", "536-22-8456"]


def prompt(chars: int) -> str:
    """`chars` characters of prose with a PII value every ~250 (the default PII settings redact them)."""
    out, i = "", 0
    while len(out) < chars:
        out += PROSE + PROSE + f"Reach me at {VALUES[i % len(VALUES)]}. "
        i += 1
    return out[:chars]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def write_config(workdir: Path, upstream_port: int) -> Path:
    config = {
        "database_url": f"sqlite+aiosqlite:///{workdir / 'gateway.db'}",
        "policy": {"dir": str(REPO / "policies")},
        "providers": {"static": {"kind": "openai", "base_url": f"http://{HOST}:{upstream_port}/v1"}},
        "routes": {"bench": {"provider": "static", "model": "bench-model"}},
    }
    path = workdir / "gateway.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


def create_key(config: Path) -> str:
    command = [sys.executable, "-m", "gateway", "keys", "create", "--agent", "bench", "--config", str(config)]
    done = subprocess.run(command, cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"keys create failed ({done.returncode}):\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@contextmanager
def server(command: list[str], log: IO[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(command, cwd=REPO, env=child_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        stop(proc)


def wait_ready(proc: subprocess.Popen[bytes], log: IO[bytes], method: str, url: str, body: Any = None) -> None:
    """Poll until the server answers 200 (any answer for the upstream's POST); raise if it dies or times out."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{url}: server exited with {proc.returncode}:\n{read_log(log)}")
            try:
                if client.request(method, url, json=body).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"{url}: not ready within {READY_TIMEOUT_S:g} s:\n{read_log(log)}")


def read_log(log: IO[bytes]) -> str:
    log.flush()
    return Path(log.name).read_text(errors="replace")[-4000:]


async def one(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    response = await client.post(url, json=BODY, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:500]}")
    return elapsed


async def load(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    total: int,
    concurrency: int,
    budget_s: float = float("inf"),
) -> Run:
    """Up to `total` requests from `concurrency` workers, each sending its next request when the last one is
    answered; no new request starts after `budget_s` seconds."""
    latencies: list[float] = []
    remaining = iter(range(total))
    started = time.perf_counter()
    deadline = started + budget_s

    async def worker() -> None:
        for _ in remaining:
            if time.perf_counter() > deadline:
                return
            latencies.append(await one(client, url, headers))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Run(latencies, time.perf_counter() - started)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process and all its threads (Linux /proc); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(url: str, headers: dict[str, str], args: argparse.Namespace, concurrency: int, pid: int) -> Run:
    total = args.requests or DEFAULT_REQUESTS.get(concurrency, 2000)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, trust_env=False, timeout=30.0) as client:
        await load(client, url, headers, args.warmup, concurrency, args.budget)
        cpu_before = cpu_seconds(pid)
        run = await load(client, url, headers, total, concurrency, args.budget)
        cpu_after = cpu_seconds(pid)
    if cpu_before is not None and cpu_after is not None:
        run.server_cpu_s = cpu_after - cpu_before
    return run


async def bench(direct: Target, gateway: Target, key: str, args: argparse.Namespace) -> list[Row]:
    headers = {"Authorization": f"Bearer {key}"}
    rows = []
    for c in args.concurrency:
        direct_run = await measure(direct.url, headers, args, c, direct.pid)
        gateway_run = await measure(gateway.url, headers, args, c, gateway.pid)
        rows.append(Row(c, direct_run, gateway_run))
    return rows


def machine() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{platform.machine()}, nproc={cores}, Python {platform.python_version()}"


def fmt_ms(value: float | None, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.2f}"


def print_table(rows: list[Row], cores: str) -> None:
    header = (
        f"{'conc':>4}  {'requests':>8}  {'direct P50':>10}  {'direct P99':>10}  {'gw P50':>8}  {'gw P99':>8}  "
        f"{'added P50':>9}  {'added P99':>9}  {'gw req/s':>8}  {'direct req/s':>12}  {'gw CPU/req':>10}"
    )
    print(f"machine: {cores}; the load client, the gateway and the upstream all share these cores")
    print("latency in ms; gw CPU/req = CPU ms the gateway process used per measured request")
    print(header)
    print("-" * len(header))
    for r in rows:
        d50, d99 = r.direct.percentile(50), r.direct.percentile(99)
        g50, g99 = r.gateway.percentile(50), r.gateway.percentile(99)
        print(
            f"{r.concurrency:>4}  {len(r.gateway.latencies_ms):>8}  {d50:>10.2f}  {d99:>10.2f}  {g50:>8.2f}  "
            f"{g99:>8.2f}  {g50 - d50:>9.2f}  {g99 - d99:>9.2f}  {r.gateway.rps:>8.0f}  {r.direct.rps:>12.0f}  "
            f"{fmt_ms(r.gateway.cpu_ms_per_request, 10)}"
        )


def run(args: argparse.Namespace, workdir: Path) -> list[Row]:
    if args.prompt_chars:
        BODY["messages"][0]["content"] = prompt(args.prompt_chars)
    up_port, gw_port = free_port(), free_port()
    direct_url = f"http://{HOST}:{up_port}/v1/chat/completions"
    gateway_url = f"http://{HOST}:{gw_port}/v1/chat/completions"
    up_cmd = [sys.executable, str(REPO / "bench" / "upstream.py"), "--port", str(up_port)]
    with open(workdir / "upstream.log", "wb") as up_log, server(up_cmd, up_log) as upstream:
        wait_ready(upstream, up_log, "POST", direct_url, BODY)
        config = write_config(workdir, up_port)
        key = create_key(config)
        gw_cmd = [
            sys.executable,
            "-m",
            "gateway",
            "serve",
            "--config",
            str(config),
            "--host",
            HOST,
            "--port",
            str(gw_port),
            "--log-level",
            "warning",
        ]
        with open(workdir / "gateway.log", "wb") as gw_log, server(gw_cmd, gw_log) as gateway:
            wait_ready(gateway, gw_log, "GET", f"http://{HOST}:{gw_port}/readyz")
            targets = Target(direct_url, upstream.pid), Target(gateway_url, gateway.pid)
            return asyncio.run(bench(*targets, key, args))


def audit_failures(log: Path) -> tuple[int, int]:
    """(failed audit writes, 'database is locked' errors) the gateway logged; a failed write is a lost record."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return text.count("audit write failed"), text.count("database is locked")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        rows = run(args, Path(tmp))
        failed, locked = audit_failures(Path(tmp) / "gateway.log")
    print_table(rows, machine())
    print(f"gateway log: {failed} failed audit writes (records lost), {locked} 'database is locked' errors")
    print(f"total run: {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
