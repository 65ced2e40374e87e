#!/usr/bin/env python3
"""Soak: mixed traffic against a real `gateway serve` for a while, sampling the gateway's RSS.

Chat (whole and streamed, one in five with PII to redact), `/v1/models` and embeddings, from `--concurrency`
clients, against the built-in echo upstream on a SQLite store. RSS is read from /proc every `--every`
seconds; growth is measured from the first sample after `--warmup` seconds to the last.

    python bench/soak.py [--seconds 600] [--concurrency 8] [--every 30] [--warmup 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def start(folder: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    (folder / "gateway.yaml").write_text(
        f"database_url: sqlite+aiosqlite:///{folder}/gateway.db\npolicy: {{dir: {ROOT / 'policies'}}}\n"
        "pii: {key_file: pii.key}\napprovals: {key_file: approvals.key}\n"
        "providers: {demo: {kind: echo}}\nroutes: {echo: {provider: demo, model: echo}}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_CONFIG"] = str(folder / "gateway.yaml")
    gateway = [sys.executable, "-m", "gateway"]
    made = subprocess.run([*gateway, "keys", "create", "--agent", "soak"], env=env, capture_output=True, text=True)
    key = made.stdout.strip().splitlines()[-1]
    proc = subprocess.Popen(
        [*gateway, "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc, key
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the gateway did not start")


async def client(http: httpx.AsyncClient, stop: float, counts: dict[str, int]) -> None:
    i = 0
    while time.monotonic() < stop:
        i += 1
        text = "mail jane.roe@example.com or call (415) 555-2671" if i % 5 == 0 else f"hello {i}"
        chat = {"model": "echo", "messages": [{"role": "user", "content": text}]}
        kind = ("chat", "stream", "models", "embeddings")[i % 4]
        try:
            if kind == "chat":
                await http.post("/v1/chat/completions", json=chat)
            elif kind == "stream":
                async with http.stream("POST", "/v1/chat/completions", json={**chat, "stream": True}) as r:
                    async for _ in r.aiter_bytes():
                        pass
            elif kind == "models":
                await http.get("/v1/models")
            else:
                await http.post("/v1/embeddings", json={"model": "echo", "input": [text]})
            counts[kind] = counts.get(kind, 0) + 1
        except httpx.HTTPError:
            counts["errors"] = counts.get("errors", 0) + 1


async def soak(url: str, key: str, pid: int, args: argparse.Namespace) -> list[tuple[float, float]]:
    started = time.monotonic()
    stop = started + args.seconds
    counts: dict[str, int] = {}
    samples: list[tuple[float, float]] = []
    headers = {"authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
        load = [asyncio.create_task(client(http, stop, counts)) for _ in range(args.concurrency)]
        while time.monotonic() < stop:
            await asyncio.sleep(min(args.every, max(0.0, stop - time.monotonic())))
            samples.append((time.monotonic() - started, rss_mb(pid)))
            print(f"{samples[-1][0]:7.0f} s  RSS {samples[-1][1]:7.1f} MB  calls {sum(counts.values())}", flush=True)
        await asyncio.gather(*load)
    print("calls:", dict(sorted(counts.items())))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--every", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = 18000 + os.getpid() % 1000
        proc, key = start(Path(tmp), port)
        try:
            samples = asyncio.run(soak(f"http://127.0.0.1:{port}", key, proc.pid, args))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    after = [rss for t, rss in samples if t >= args.warmup] or [rss for _, rss in samples]
    growth = (after[-1] - after[0]) / after[0] * 100
    print(f"RSS after warm-up: {after[0]:.1f} -> {after[-1]:.1f} MB ({growth:+.1f}%)")


if __name__ == "__main__":
    main()
