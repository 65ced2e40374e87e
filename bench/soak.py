#!/usr/bin/env python3
"""Soak: steady mixed traffic against a real `gateway serve` for a while; memory, descriptors, tasks, losses.

Chat (whole and streamed, one in five with PII to redact), `/v1/models`, embeddings, and tool calls under the
finance-approval example policy (docs/examples/finance-approval): allowed, denied (over the hard limit) and
held (`Prefer: respond-async`: a 202, then the hold expires after `approvals.timeout_s`), from `--concurrency`
clients on the built-in echo upstream and a SQLite store. Every `--every` seconds it samples the gateway's
RSS, open file descriptors, threads and event-loop tasks (`gateway_event_loop_tasks` on /metrics); growth is
measured from the first sample after `--warmup` seconds to the last. At the end every audited call's request
id must be in the audit log (`gateway audit export`), the log must verify, and no audit write may have failed.

    python bench/soak.py [--seconds 600] [--concurrency 8] [--every 30] [--warmup 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
GATEWAY = [sys.executable, "-m", "gateway"]
TOOLS = [{"type": "function", "function": {"name": "pay_invoice", "parameters": {"type": "object"}}}]
KINDS = ("chat", "stream", "models", "embeddings", "tool-allowed", "tool-denied", "tool-held", "stream-tool")


@dataclass
class Sample:
    at: float
    rss_mb: float
    fds: int
    threads: int
    tasks: int | None


@dataclass
class Tally:
    statuses: dict[str, int] = field(default_factory=dict)
    audited: list[str] = field(default_factory=list)  # request ids of calls that must be in the audit log

    def count(self, kind: str, status: int | str) -> None:
        key = f"{kind} {status}"
        self.statuses[key] = self.statuses.get(key, 0) + 1


def proc_status(pid: int) -> tuple[float, int, int]:
    """RSS in MB, open file descriptors and threads of a process (Linux /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return rss, len(os.listdir(f"/proc/{pid}/fd")), threads


def start(folder: Path, port: int) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    example = ROOT / "docs/examples/finance-approval"
    shutil.copytree(example, folder / "policies", ignore=shutil.ignore_patterns("*_test.rego"))
    (folder / "gateway.yaml").write_text(
        f"database_url: sqlite+aiosqlite:///{folder}/gateway.db\npolicy: {{dir: {folder / 'policies'}}}\n"
        "pii: {key_file: pii.key}\napprovals: {key_file: approvals.key, timeout_s: 2}\n"
        "providers: {demo: {kind: echo}}\nroutes: {echo: {provider: demo, model: echo}}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_CONFIG"] = str(folder / "gateway.yaml")
    made = subprocess.run([*GATEWAY, "keys", "create", "--agent", "soak"], env=env, capture_output=True, text=True)
    key = made.stdout.strip().splitlines()[-1]
    proc = subprocess.Popen(
        [*GATEWAY, "serve", "--port", str(port), "--log-level", "warning", "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "gateway.log", "wb"),  # noqa: SIM115 (closed with the process)
    )
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc, key, env
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the gateway did not start")


def request(kind: str, i: int) -> tuple[str, str, dict[str, object] | None, dict[str, str]]:
    """(method, path, body, extra headers) of call `i` of `kind`."""
    text = "mail jane.roe@example.com or call (415) 555-2671" if i % 5 == 0 else f"hello {i}"
    chat: dict[str, object] = {"model": "echo", "messages": [{"role": "user", "content": text}]}
    amount = {"tool-allowed": 50, "tool-denied": 50_000, "tool-held": 5_000, "stream-tool": 20}.get(kind)
    if amount is not None:
        tool = f'/tool pay_invoice {{"amount": {amount}}}'
        chat = {**chat, "messages": [{"role": "user", "content": tool}], "tools": TOOLS}
    if kind in ("stream", "stream-tool"):
        chat = {**chat, "stream": True}
    headers = {"prefer": "respond-async"} if kind == "tool-held" else {}
    if kind == "models":
        return "GET", "/v1/models", None, headers
    if kind == "embeddings":
        return "POST", "/v1/embeddings", {"model": "echo", "input": [text]}, headers
    return "POST", "/v1/chat/completions", chat, headers


async def client(http: httpx.AsyncClient, stop: float, tally: Tally, offset: int) -> None:
    i = offset
    while time.monotonic() < stop:
        i += 1
        kind = KINDS[i % len(KINDS)]
        method, path, body, headers = request(kind, i)
        request_id = uuid.uuid4().hex
        try:
            async with http.stream(method, path, json=body, headers={**headers, "x-request-id": request_id}) as r:
                async for _ in r.aiter_bytes():
                    pass
            tally.count(kind, r.status_code)
            if kind != "models":
                tally.audited.append(request_id)
        except httpx.HTTPError as exc:
            tally.count(kind, type(exc).__name__)


async def sample(http: httpx.AsyncClient, pid: int, started: float) -> Sample:
    rss, fds, threads = proc_status(pid)
    metrics = (await http.get("/metrics")).text
    tasks = re.search(r"^gateway_event_loop_tasks (\S+)", metrics, re.M)
    return Sample(time.monotonic() - started, rss, fds, threads, int(float(tasks.group(1))) if tasks else None)


async def soak(url: str, key: str, pid: int, args: argparse.Namespace) -> tuple[list[Sample], Tally]:
    started = time.monotonic()
    stop = started + args.seconds
    tally = Tally()
    samples: list[Sample] = []
    async with httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=30) as http:
        load = [asyncio.create_task(client(http, stop, tally, n * 1000)) for n in range(args.concurrency)]
        while time.monotonic() < stop:
            await asyncio.sleep(min(args.every, max(0.0, stop - time.monotonic())))
            s = await sample(http, pid, started)
            samples.append(s)
            calls = sum(tally.statuses.values())
            print(
                f"{s.at:7.0f} s  RSS {s.rss_mb:7.1f} MB  fds {s.fds:4}  threads {s.threads:3}  tasks {s.tasks}  "
                f"calls {calls}",
                flush=True,
            )
        await asyncio.gather(*load)
        await asyncio.sleep(3)  # the last holds expire
        failures = re.search(r"^gateway_audit_failures_total (\S+)", (await http.get("/metrics")).text, re.M)
    print("calls:", json.dumps(dict(sorted(tally.statuses.items()))))
    print(f"audit writes that failed (records spilled to the error log): {failures.group(1) if failures else '?'}")
    return samples, tally


def audit_check(env: dict[str, str], tally: Tally) -> None:
    exported = subprocess.run(
        [*GATEWAY, "audit", "export", "--format", "jsonl"], env=env, capture_output=True, text=True, check=True
    ).stdout
    logged = {json.loads(line)["request_id"] for line in exported.splitlines()}
    missing = [rid for rid in tally.audited if rid not in logged]
    print(f"audited calls: {len(tally.audited)}, missing from the audit log: {len(missing)}")
    verified = subprocess.run([*GATEWAY, "audit", "verify"], env=env, capture_output=True, text=True)
    print("audit verify:", (verified.stdout or verified.stderr).strip().splitlines()[-1])


def growth(samples: list[Sample], warmup: float) -> None:
    after = [s for s in samples if s.at >= warmup] or samples
    first, last = after[0], after[-1]
    print(
        f"after warm-up: RSS {first.rss_mb:.1f} -> {last.rss_mb:.1f} MB "
        f"({(last.rss_mb - first.rss_mb) / first.rss_mb * 100:+.1f}%), fds {first.fds} -> {last.fds}, "
        f"threads {first.threads} -> {last.threads}, tasks {first.tasks} -> {last.tasks}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--every", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = 18000 + os.getpid() % 1000
        proc, key, env = start(Path(tmp), port)
        try:
            samples, tally = asyncio.run(soak(f"http://127.0.0.1:{port}", key, proc.pid, args))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        growth(samples, args.warmup)
        audit_check(env, tally)


if __name__ == "__main__":
    main()
