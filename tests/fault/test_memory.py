"""Native memory stays flat across policy decisions in a process laid out like the server's (the gateway
package first, then aiohttp and the rest): regopy must be loaded before other C++ extensions."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import POLICIES

SCRIPT = f"""
import asyncio, os, pathlib
import gateway  # what `python -m gateway` imports first
import aiohttp, greenlet  # C++ extensions that, loaded before regopy, make each evaluation leak
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.source import load_source

def rss_mb():
    with open(f"/proc/{{os.getpid()}}/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmRSS")) / 1024

async def main():
    engine = EmbeddedEngine(load_source(pathlib.Path({str(POLICIES)!r})))
    doc = {{"principal": {{"agent": "a", "team": None, "key_id": "k", "labels": {{}}, "end_user": None}},
           "call": {{"kind": "model", "operation": "chat", "phase": "request", "surface": "openai",
                    "target": "echo", "stream": False, "internal": False, "request_id": "r", "tool_calls": [],
                    "tools": [], "message_count": 1, "max_tokens": None}},
           "pii": [], "pii_truncated": False, "routes": ["echo"]}}
    for _ in range(1000):
        await engine.evaluate(doc)
    before = rss_mb()
    for _ in range(10000):
        await engine.evaluate(doc)
    print(rss_mb() - before)
    await engine.aclose()

asyncio.run(main())
"""


def test_ten_thousand_decisions_leave_native_memory_flat() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    grown_mb = float(out.stdout.strip().splitlines()[-1])
    assert grown_mb < 5, f"RSS grew {grown_mb:.1f} MB over 10,000 decisions"
