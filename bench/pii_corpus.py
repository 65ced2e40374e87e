#!/usr/bin/env python3
"""PII figures, each printed beside its goal: recall and leaks on a labelled corpus through the real gateway, false
findings on text that holds no personal data, and card numbers of every range a network issues.

- corpus: every sample of ../shared/data/pii/generated_large.json (synthetic sentences with labelled spans) goes
  through a gateway (embedded defaults, the shipped policy, a route to a capturing stand-in upstream that is not
  internal, so every type found is redacted) as an OpenAI chat completion. Per entity type: recall and precision
  (the gateway's findings, from its audit record, by span, against the labels) and leaks (labelled values that
  reached the upstream verbatim). Types the gateway does not look for without an NER model (PERSON, LOCATION,
  ...) are reported as such. Goal: recall >= 0.99 and no leak for every type found without a model.
- precision: the default PII settings on text that holds no personal data by construction, read at run time:
  the coding agents' recorded requests (`tests/data/agent_requests/`, their system prompts and tool
  descriptions) and the Python standard library's own modules (source code, docstrings, prose about software).
  Every finding in it counts as false. Per type: findings per 100,000 characters, and whether the default policy
  redacts the type. Goal: at most 1 per 100,000 characters for the types it redacts.
- cards: for every issuer range and length of `gateway/pii/recognizers/card.py`, numbers with a valid Luhn digit
  at both ends of the range and in between, in running text, grouped by spaces (4-4-4-4), by dashes or not at
  all. Goal: all of them found, whole.

    python bench/pii_corpus.py [--sections corpus,precision,cards] [--limit N] [--chars N] [--show N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import sysconfig
import tempfile
import threading
import time
from collections import Counter, defaultdict
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
from gateway.pii.analyzer import NER_ENTITIES, Inspector  # noqa: E402
from gateway.pii.recognizers.card import RANGES, luhn  # noqa: E402
from gateway.settings import PiiConfig, Settings  # noqa: E402
from gateway.store.db import Database  # noqa: E402
from gateway.store.keys import KeyStore  # noqa: E402

CORPUS = REPO.parent / "shared/data/pii/generated_large.json"
LABELS = {"DOMAIN_NAME": "URL"}  # the corpus's names for types the gateway calls otherwise
SECTIONS = ("corpus", "precision", "cards")
RECALL_GOAL, FALSE_GOAL = 0.99, 1.0  # recall per pattern type; false findings per 100,000 characters
received: list[str] = []


def pattern_types() -> frozenset[str]:
    """The types the gateway finds without an NER model."""
    return Inspector(PiiConfig(cache_entries=0), b"k" * 32).supported


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


def run_corpus(samples: list[dict[str, Any]]) -> tuple[dict[str, dict[str, int]], float]:
    """Every sample through a gateway to the capturing upstream; the counts per type and the seconds taken."""
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
    return score(samples, asyncio.run(request_findings(settings.database_url))), elapsed


def unredacted_types() -> set[str]:
    """The types the default policy leaves in place (`data.gateway.unredacted_types`)."""
    return set(json.loads((REPO / "policies/gateway/data.json").read_text())["unredacted_types"])


def _note(kind: str, patterns: frozenset[str], unredacted: set[str]) -> str:
    if kind in unredacted:
        return "  (left in place by the default policy)"
    if kind in NER_ENTITIES:
        return "  (needs an NER model)"
    return "" if kind in patterns else "  (not looked for)"


def corpus_section(limit: int) -> None:
    samples = json.loads(CORPUS.read_text())[: limit or None]
    counts, elapsed = run_corpus(samples)
    patterns, unredacted = pattern_types(), unredacted_types()
    print(f"{len(samples)} samples through the gateway in {elapsed:.1f} s; the upstream got {len(received)} calls")
    print(f"goal: recall >= {RECALL_GOAL} for every type found without a model, and none of those the policy")
    print("redacts reaching the upstream (leaks)")
    print(f"{'type':<20} {'labelled':>8} {'found':>6} {'recall':>7} {'precision':>9} {'leaks':>6}")
    for kind, c in sorted(counts.items(), key=lambda kv: -kv[1]["gold"]):
        recall = f"{c['tp'] / c['gold']:.3f}" if c["gold"] else "-"
        precision = f"{(c['found'] - c['fp']) / c['found']:.3f}" if c["found"] else "-"
        note = _note(kind, patterns, unredacted)
        print(f"{kind:<20} {c['gold']:>8} {c['found']:>6} {recall:>7} {precision:>9} {c['leaks']:>6}{note}")
    labelled = {kind: c for kind, c in counts.items() if kind in patterns and c["gold"]}
    met = [kind for kind, c in labelled.items() if c["tp"] / c["gold"] >= RECALL_GOAL]
    leaks = sum(c["leaks"] for kind, c in labelled.items() if kind not in unredacted)
    print(f"types found without a model: recall >= {RECALL_GOAL} for {len(met)} of {len(labelled)}; {leaks} leaks")


# the standard library's own tests and data files hold made-up addresses and numbers on purpose
SKIPPED_PARTS = {"test", "tests", "idlelib", "lib2to3", "email", "encodings", "pydoc_data"}


def clean_texts(limit: int) -> list[tuple[str, str]]:
    """(origin, text) holding no personal data: the agents' recorded requests, then stdlib modules until `limit`
    characters."""
    out, total = [], 0
    for path in sorted((REPO / "tests/data/agent_requests").glob("*.json")):
        body = json.loads(path.read_text())["body"]
        out.append((path.name, json.dumps(body, ensure_ascii=False)))
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.rglob("*.py")):
        if SKIPPED_PARTS & set(path.relative_to(stdlib).parts) or "site-packages" in path.parts:
            continue
        text = path.read_text(errors="replace")
        out.append((str(path.relative_to(stdlib)), text))
        total += len(text)
        if total >= limit:
            break
    return out


def precision_section(limit: int, show: int) -> None:
    inspector = Inspector(PiiConfig(cache_entries=0), b"k" * 32)
    unredacted = unredacted_types()
    counts: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    texts = clean_texts(limit)
    chars = sum(len(text) for _, text in texts)
    for origin, text in texts:
        for hit in inspector.analyze(text):
            counts[hit.type] += 1
            if len(examples[hit.type]) < show:
                examples[hit.type].append(f"{origin}: {text[max(0, hit.start - 20) : hit.end + 20]!r}")
    per = 100_000 / max(chars, 1)
    redacted = sum(n for kind, n in counts.items() if kind not in unredacted)
    print(f"{chars:,} characters holding no personal data ({len(texts)} texts: agents' requests, stdlib)")
    print(f"goal: at most {FALSE_GOAL:g} false finding per 100,000 characters of the types the default policy redacts")
    print(f"{'type':<22} {'findings':>9} {'per 100k':>9}  redacted by the default policy")
    for kind, n in counts.most_common():
        print(f"{kind:<22} {n:>9} {n * per:>9.2f}  {'no' if kind in unredacted else 'yes'}")
    print(f"{'redacted (all types)':<22} {redacted:>9} {redacted * per:>9.2f}")
    for kind, shown in examples.items():
        for example in shown:
            print(f"  {kind}: {example}")


def with_check_digit(body: str) -> str:
    return next(body + digit for digit in "0123456789" if luhn(body + digit))


def card_numbers(prefix: str, length: int, rng: random.Random, count: int) -> list[str]:
    """`count` valid numbers of `length` digits in the range `prefix` ("low-high" or one prefix): both ends, and
    prefixes drawn between them."""
    low, _, high = prefix.partition("-")
    high = high or low
    starts = [low, high] + [str(rng.randint(int(low), int(high))).zfill(len(low)) for _ in range(count - 2)]
    return [
        with_check_digit(start + "".join(rng.choice("0123456789") for _ in range(length - len(start) - 1)))
        for start in starts
    ]


def grouped(number: str, separator: str) -> str:
    return separator.join(number[i : i + 4] for i in range(0, len(number), 4))


def cards_section(count: int) -> None:
    inspector = Inspector(PiiConfig(cache_entries=0), b"k" * 32)
    rng = random.Random(21)
    print(f"card numbers in running text, {count} per range and length, grouped by spaces, dashes, or not at all")
    print("goal: every number found whole (100% per range)")
    print(f"{'range':<11} {'lengths':<24} {'spaces':>9} {'dashes':>9} {'none':>9}")
    totals: Counter[str] = Counter()
    for prefix, lengths in RANGES:
        numbers = [n for length in lengths for n in card_numbers(prefix, length, rng, count)]
        row = []
        for style, separator in (("spaces", " "), ("dashes", "-"), ("none", "")):
            found = 0
            for number in numbers:
                shown = grouped(number, separator)
                text = f"Please charge {shown} for the order, thanks."
                hits = [text[h.start : h.end] for h in inspector.analyze(text) if h.type == "CREDIT_CARD"]
                found += hits == [shown]
            totals[style] += found
            totals[f"{style} total"] += len(numbers)
            row.append(f"{found}/{len(numbers)}")
        print(f"{prefix:<11} {','.join(map(str, lengths)):<24} {row[0]:>9} {row[1]:>9} {row[2]:>9}")
    row = [f"{totals[style]}/{totals[f'{style} total']}" for style in ("spaces", "dashes", "none")]
    print(f"{'all':<11} {'':<24} {row[0]:>9} {row[1]:>9} {row[2]:>9}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", default=",".join(SECTIONS), help="which to run, comma-separated")
    parser.add_argument("--limit", type=int, default=0, help="corpus: only the first N samples")
    parser.add_argument("--chars", type=int, default=2_000_000, help="precision: characters of clean text")
    parser.add_argument("--show", type=int, default=2, help="precision: examples shown per type")
    parser.add_argument("--cards", type=int, default=5, help="cards: numbers per range and length")
    args = parser.parse_args()
    sections = [name.strip() for name in args.sections.split(",") if name.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections: {', '.join(unknown)} (known: {', '.join(SECTIONS)})")
    run = {
        "corpus": lambda: corpus_section(args.limit),
        "precision": lambda: precision_section(args.chars, args.show),
        "cards": lambda: cards_section(args.cards),
    }
    for i, name in enumerate(sections):
        print(("\n" if i else "") + f"== {name}")
        run[name]()


if __name__ == "__main__":
    main()
