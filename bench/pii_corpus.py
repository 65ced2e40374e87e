#!/usr/bin/env python3
"""PII recall, precision and leaks on a labelled corpus, through the real gateway.

Every sample of ../shared/data/pii/generated_large.json (synthetic sentences with labelled spans) goes
through a gateway (embedded defaults, the shipped policy, a route to a capturing stand-in upstream that
is not internal, so every type found is redacted) as an OpenAI chat completion. Per entity type:

- recall / precision: the gateway's findings (its audit record, by span) against the labels;
- leaks: labelled values that reached the upstream verbatim.

Types the gateway does not look for without an NER model (PERSON, LOCATION, ...) are reported as such.

    python bench/pii_corpus.py [--limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gateway.app import create_app  # noqa: E402
from gateway.audit.records import AuditLog  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from gateway.store.db import Database  # noqa: E402
from gateway.store.keys import KeyStore  # noqa: E402

CORPUS = REPO.parent / "shared/data/pii/generated_large.json"
LABELS = {"DOMAIN_NAME": "URL"}  # the corpus's names for types the gateway calls otherwise
received: list[str] = []


async def capture(request: Request) -> JSONResponse:
    body = await request.json()
    received.append(body["messages"][-1]["content"])
    message = {"role": "assistant", "content": "ok"}
    return JSONResponse(
        {
            "id": "c",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        }
    )


def serve(app: Any) -> tuple[uvicorn.Server, str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def score(samples: list[dict[str, Any]], records: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"gold": 0, "tp": 0, "found": 0, "fp": 0, "leaks": 0})
    for sample, findings, sent in zip(samples, records, received, strict=True):
        spans = [
            (LABELS.get(s["entity_type"], s["entity_type"]), s["start_position"], s["end_position"], s["entity_value"])
            for s in sample["spans"]
        ]
        for kind, start, end, value in spans:
            counts[kind]["gold"] += 1
            if any(f["type"] == kind and f["start"] < end and start < f["end"] for f in findings):
                counts[kind]["tp"] += 1
            if value in sent:
                counts[kind]["leaks"] += 1
        for f in findings:
            counts[f["type"]]["found"] += 1
            if not any(k == f["type"] and f["start"] < e and s < f["end"] for k, s, e, _ in spans):
                counts[f["type"]]["fp"] += 1
    return counts


async def request_findings(database_url: str) -> list[dict[str, Any]]:
    db = Database(database_url)
    try:
        rows = [row async for row in AuditLog(db).read() if row["event"] == "decision" and row["phase"] == "request"]
    finally:
        await db.aclose()
    rows.sort(key=lambda r: int(r["request_id"]))
    return [r["pii"] for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="only the first N samples")
    args = parser.parse_args()
    samples = json.loads(CORPUS.read_text())[: args.limit or None]
    upstream_server, upstream_url = serve(Starlette(routes=[Route("/v1/chat/completions", capture, methods=["POST"])]))
    workdir = Path(tempfile.mkdtemp())
    settings = Settings.model_validate(
        {
            "database_url": f"sqlite+aiosqlite:///{workdir}/g.db",
            "policy": {"dir": str(REPO / "policies"), "timeout_ms": 5000},
            "providers": {"capture": {"kind": "openai", "base_url": f"{upstream_url}/v1"}},
            "routes": {"external": {"provider": "capture", "model": "m"}},
        }
    )

    async def make_key() -> str:
        db = Database(settings.database_url)
        await db.migrate()
        key = (await KeyStore(db).create("bench"))[1]
        await db.aclose()
        return key

    key = asyncio.run(make_key())
    gateway_server, gateway_url = serve(create_app(settings))
    started = time.perf_counter()
    with httpx.Client(base_url=gateway_url, headers={"authorization": f"Bearer {key}"}, timeout=60) as client:
        for i, sample in enumerate(samples):
            body = {"model": "external", "messages": [{"role": "user", "content": sample["full_text"]}]}
            client.post("/v1/chat/completions", json=body, headers={"x-request-id": str(i)}).raise_for_status()
    elapsed = time.perf_counter() - started
    gateway_server.should_exit = upstream_server.should_exit = True
    time.sleep(0.5)
    counts = score(samples, asyncio.run(request_findings(settings.database_url)))
    print(f"{len(samples)} samples through the gateway in {elapsed:.1f} s; the upstream got {len(received)} calls")
    print(f"{'type':<20} {'labelled':>8} {'found':>6} {'recall':>7} {'precision':>9} {'leaks':>6}")
    for kind, c in sorted(counts.items(), key=lambda kv: -kv[1]["gold"]):
        recall = f"{c['tp'] / c['gold']:.3f}" if c["gold"] else "-"
        precision = f"{(c['found'] - c['fp']) / c['found']:.3f}" if c["found"] else "-"
        print(f"{kind:<20} {c['gold']:>8} {c['found']:>6} {recall:>7} {precision:>9} {c['leaks']:>6}")


if __name__ == "__main__":
    main()
