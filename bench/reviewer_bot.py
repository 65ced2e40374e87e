#!/usr/bin/env python3
"""What the ladder's `held` rung needs: a policy that holds every call, a reviewer, and a bot that approves.

    python bench/reviewer_bot.py --url http://127.0.0.1:8080 [--interval-ms 10]   # token in BENCH_REVIEWER_TOKEN

The bot polls `GET /admin/api/approvals?status=pending` with one reviewer token, one poll at a time with
`--interval-ms` (10 ms by default) between them, and approves each approval it has not seen yet
(`POST .../{id}/approve`), up to `APPROVERS` at once, over one pooled keep-alive httpx client. A held call
therefore also waits for the next poll (about half an interval plus a poll's round trip) and an approve's
round trip. The polls are served by the measured gateway: each costs it ~4 ms of CPU even with nothing pending
(three ORM queries through aiosqlite, each several hops to its thread: the token, the reviewer, the list), so
polling takes up to ~0.4 of its core (~100 polls a second at most), and its CPU per request includes the polls as
well as the approvals. It prints each failure as it happens; SIGTERM stops it, and it prints a summary line (polls,
approved, refused, errors).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from harness import REPO, child_env, gateway_cli, load_cores, process, read_log

REVIEWER = "bench-reviewer"
TOKEN_ENV = "BENCH_REVIEWER_TOKEN"
APPROVERS = 8  # approvals posted at once: at c=64 one at a time would make the bot the bottleneck
REMEMBERED = 10_000  # ids already approved, so a poll answered just before an approve landed is not approved twice
HOLD_EVERY_REQUEST = """
default hold := null

hold := {"reason": "bench: every call waits for a reviewer", "approvers": null} if input.call.phase == "request"
"""


def held_policies(workdir: Path) -> Path:
    """A copy of the repo's policies whose decision holds every call on its request phase (approvers null: any
    reviewer may decide). The copied tests expect no hold, so they are left out."""
    folder = workdir / "policies"
    shutil.copytree(REPO / "policies", folder, dirs_exist_ok=True)
    for test in folder.rglob("*_test.rego"):
        test.unlink()
    decision = folder / "gateway" / "decision.rego"
    text = decision.read_text()
    if '"hold": null,' not in text:
        raise RuntimeError(f'{decision}: no `"hold": null,` to replace; the held rung needs updating')
    decision.write_text(text.replace('"hold": null,', '"hold": hold,', 1) + HOLD_EVERY_REQUEST)
    return folder


@contextmanager
def reviewer_bot(config: Path, base_url: str, workdir: Path, interval_ms: float = 10.0) -> Iterator[None]:
    """A reviewer account with an API token, and the bot approving as it, on the load cores; when the block
    ends the bot stops and its summary goes to stderr."""
    gateway_cli(config, "reviewers", "add", REVIEWER, "--group", "bench", "--no-password")
    token = gateway_cli(config, "reviewers", "token", REVIEWER)
    command = [sys.executable, str(Path(__file__)), "--url", base_url, "--interval-ms", str(interval_ms)]
    with open(workdir / "reviewer-bot.log", "wb") as log:
        with process(command, log, load_cores(), child_env({TOKEN_ENV: token})):
            yield
        lines = read_log(log).strip().splitlines()
        print(lines[-1] if lines else "reviewer bot: no summary", file=sys.stderr)


@dataclass
class Tally:
    """What the bot did, counted from the poller and the approving threads."""

    counts: Counter[str] = field(default_factory=Counter)
    seen: dict[str, None] = field(default_factory=dict)  # insertion-ordered, trimmed to REMEMBERED
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, what: str) -> None:
        with self.lock:
            self.counts[what] += 1

    def summary(self) -> str:
        return "reviewer bot: " + ", ".join(f"{self.counts[k]} {k}" for k in ("polls", "approved", "refused", "errors"))

    def first_sight(self, approval_id: str) -> bool:
        if approval_id in self.seen:
            return False
        self.seen[approval_id] = None
        while len(self.seen) > REMEMBERED:
            del self.seen[next(iter(self.seen))]
        return True


def pending(client: httpx.Client, tally: Tally) -> list[str]:
    """The ids of the pending approvals, oldest first ([] and counted as an error when the poll fails)."""
    tally.count("polls")
    try:
        resp = client.get("/admin/api/approvals", params={"status": "pending", "limit": 1000})
        resp.raise_for_status()
        return [a["id"] for a in resp.json()["data"]]
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        tally.count("errors")
        print(f"poll failed: {exc!r}", flush=True)
        return []


def approve(client: httpx.Client, approval_id: str, tally: Tally) -> None:
    """One vote; a 403/409 (decided meanwhile, expired) is counted as refused, anything else as an error."""
    try:
        resp = client.post(f"/admin/api/approvals/{approval_id}/approve", json={})
    except httpx.HTTPError as exc:
        tally.count("errors")
        print(f"approve {approval_id} failed: {exc!r}", flush=True)
        return
    if resp.status_code == 200:
        tally.count("approved")
    elif resp.status_code in (403, 409):
        tally.count("refused")
        print(f"approve {approval_id} refused: {resp.status_code} {resp.text[:200]}", flush=True)
    else:
        tally.count("errors")
        print(f"approve {approval_id} failed: {resp.status_code} {resp.text[:200]}", flush=True)


def run(base_url: str, token: str, interval_s: float, stop: threading.Event) -> Tally:
    """Poll and approve until `stop` is set; approvals already posted then finish, queued ones are dropped."""
    tally = Tally()
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=APPROVERS + 1, max_keepalive_connections=APPROVERS + 1)
    pool = ThreadPoolExecutor(APPROVERS, thread_name_prefix="approve")
    with httpx.Client(base_url=base_url, headers=headers, limits=limits, timeout=30, trust_env=False) as client:
        try:
            while not stop.is_set():
                for approval_id in pending(client, tally):
                    if tally.first_sight(approval_id):
                        pool.submit(approve, client, approval_id, tally)  # approve() counts its own outcome
                stop.wait(interval_s)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the gateway's base URL")
    parser.add_argument("--interval-ms", type=float, default=10.0, help="pause between polls (default 10)")
    args = parser.parse_args()
    token = os.environ[TOKEN_ENV]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    tally = run(args.url.rstrip("/"), token, args.interval_ms / 1000, stop)
    print(tally.summary(), flush=True)


if __name__ == "__main__":
    main()
