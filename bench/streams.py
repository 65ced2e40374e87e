"""Time to first token of a streamed answer, for bench/ladder.py: direct from the upstream and through a server."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import httpx


def first_token_ms(client: httpx.Client, url: str, key: str, body: dict[str, object]) -> float:
    """Milliseconds from sending the request to the first chunk that carries content."""
    started = time.perf_counter()
    with client.stream("POST", url, json=body, headers={"Authorization": f"Bearer {key}"}) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data: {") and '"content": "Sure' in line.replace('":"', '": "'):
                return (time.perf_counter() - started) * 1000
    raise RuntimeError(f"{url}: the stream had no content")


def ttft(url: str, key: str, body_path: Path, count: int = 300) -> str:
    """P50/P99 time to first token over `count` streamed calls, one at a time."""
    body = {**json.loads(body_path.read_text()), "stream": True}
    with httpx.Client(trust_env=False, timeout=30.0) as client:
        for _ in range(20):
            first_token_ms(client, url, key, body)
        times = sorted(first_token_ms(client, url, key, body) for _ in range(count))
    return f"P50 {statistics.median(times):.2f} ms, P99 {times[int(len(times) * 0.99) - 1]:.2f} ms"
