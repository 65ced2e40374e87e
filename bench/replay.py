#!/usr/bin/env python3
"""How fast `gateway policy replay` goes: decisions replayed per second on recorded events.

A SQLite store (or PostgreSQL: --database URL) is filled with N decision events whose kept inputs are what the
gateway records (the default policy's inputs: model calls with and without tool calls, PII findings, tool
calls, listings), written through the audit log's own writer (Merkle tree and all). Then the shipped policy is
replayed on them (nothing changes) and a candidate that adds a tool to the risky list (some change), each timed.

    python bench/replay.py                  # 100,000 events on SQLite
    python bench/replay.py --events 20000 --database postgresql+asyncpg://gateway:gateway@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from gateway.audit.events import AuditEvent
from gateway.audit.journal import answer
from gateway.audit.records import AuditLog
from gateway.model import Decision, new_id
from gateway.policy.embedded import compile_source
from gateway.policy.replay import Scope, replay
from gateway.policy.source import load_source
from gateway.store.db import Database

REPO = Path(__file__).resolve().parents[1]
TOOLS = ["lookup_order", "search_kb", "send_email", "get_weather"]
PII = [[], [{"type": "EMAIL_ADDRESS", "count": 1, "max_score": 1.0, "where": ["user"]}]]


def an_input(n: int, rng: random.Random) -> dict[str, Any]:
    phase = rng.choice(["request", "response"])
    calls = [{"id": f"c{n}", "name": rng.choice(TOOLS), "arguments": {"q": "x"}}] if rng.random() < 0.4 else []
    return {
        "principal": {"agent": f"agent-{n % 7}", "team": "cs", "key_id": "k1", "labels": {}, "end_user": None},
        "call": {
            "kind": "model",
            "operation": "chat",
            "phase": phase,
            "surface": "openai",
            "target": "gpt-4o-mini",
            "stream": False,
            "internal": False,
            "request_id": new_id(),
            "tool_calls": calls,
            "tools": TOOLS,
            "message_count": 3,
            "max_tokens": 256,
        },
        "pii": rng.choice(PII),
        "pii_truncated": False,
        "redactable": ["CREDIT_CARD", "EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN"],
        "routes": ["gpt-4o-mini"],
        "session": None,
        "usage": None,
    }


async def fill(db: Database, events: int) -> None:
    program = compile_source(load_source(REPO / "policies"))
    log = AuditLog(db)
    rng = random.Random(7)
    batch: list[dict[str, Any]] = []
    for n in range(events):
        doc = an_input(n, rng)
        decision = Decision.from_document(program.evaluate(doc), phase=doc["call"]["phase"], policy_version="v1")
        event = AuditEvent(
            decision_id=new_id(),
            call_id=new_id(),
            request_id=doc["call"]["request_id"],
            surface="openai",
            agent=doc["principal"]["agent"],
            team="cs",
            target="gpt-4o-mini",
            phase=doc["call"]["phase"],
            allow=decision.allow,
            reasons=decision.reasons,
            policy={"input": doc, "decision": answer(decision)},
        )
        batch.append(event.row())
        if len(batch) == 2000:
            await log.write(batch)
            batch = []
    if batch:
        await log.write(batch)
    await log.aclose()


async def main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="replay-bench-"))
    url = args.database or f"sqlite+aiosqlite:///{workdir}/bench.db"
    db = Database(url, timeout_s=60)
    try:
        await db.migrate()
        started = time.perf_counter()
        await fill(db, args.events)
        print(f"recorded {args.events} decisions in {time.perf_counter() - started:.1f} s ({url.split(':')[0]})")
        changed = workdir / "candidate"
        shutil.copytree(REPO / "policies", changed)
        data_file = changed / "gateway/data.json"
        data = json.loads(data_file.read_text())
        data_file.write_text(json.dumps({**data, "risky_tools": [*data["risky_tools"], "send_email"]}))
        for name, directory in (("the shipped policy", REPO / "policies"), ("a changed policy", changed)):
            started = time.perf_counter()
            report = await replay(db, load_source(directory), Scope())
            seconds = time.perf_counter() - started
            print(
                f"{name:<18} {report.seen} decisions in {seconds:.1f} s: {report.seen / seconds:,.0f} a second; "
                f"{report.changed} would change"
            )
    finally:
        await db.aclose()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--database", help="a PostgreSQL URL (default: a SQLite file in a temporary directory)")
    asyncio.run(main(parser.parse_args()))
