"""Helpers for the reviewer-side tests: reviewers and held calls written straight to the store (as the hold
stage and `gateway reviewers add` would), then the HTTP side driven against a real gateway."""

from __future__ import annotations

import asyncio
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from gateway.approvals.cipher import PayloadCipher
from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.records import Held
from gateway.approvals.reviewers import ReviewerStore
from gateway.audit.records import AuditLog
from gateway.model import new_id
from gateway.settings import Settings
from gateway.store.db import Database

# Re-asked when a reviewer approves: this one lets every held call go, so the reviewer's decision stands.
ALLOW_ALL = """package gateway

import rego.v1

decision := {"allow": true, "reasons": [], "hold": null, "redact": [], "route": null}
"""

PASSWORD = "correct horse battery staple"


def allow_all_policy(tmp_path: Path) -> dict[str, Any]:
    folder = tmp_path / "policy"
    folder.mkdir(exist_ok=True)
    (folder / "policy.rego").write_text(ALLOW_ALL)
    return {"dir": str(folder), "timeout_ms": 2000}


def held(**overrides: Any) -> Held:
    """A held tool call, as the hold stage describes one."""
    action = overrides.pop(
        "action",
        {
            "tool_calls": [
                {"name": "transfer_funds", "arguments": {"amount": 5000, "to": "DE89 3704 0044 0532 0130 00"}}
            ]
        },
    )
    values: dict[str, Any] = {
        "phase": "response",
        "kind": "tool",
        "surface": "openai",
        "agent": "support-bot",
        "team": "cs",
        "key_id": "k1",
        "end_user": "user-42",
        "target": "gpt",
        "approvers": "finance",
        "reason": "large transfer",
        "reasons": ["amount over 1000"],
        "tool_calls": ["transfer_funds"],
        "action_hash": secrets.token_hex(32),
        "request_hash": secrets.token_hex(32),
        "policy_version": "v1",
        "decision_id": new_id(),
        "call_id": new_id(),
        "request_id": secrets.token_hex(8),
        "payload": {"action": action, "input": {"call": {"phase": "response"}}},
    }
    values.update(overrides)
    return Held.model_validate(values)


def run(settings: Settings, work: Any) -> Any:
    """Run `work(queue, reviewers)` against the gateway's store, with a queue of our own (in a thread of
    its own: Playwright's sync API keeps an event loop running in the test's thread)."""

    async def main() -> Any:
        db = Database(settings.database_url)
        await db.migrate()
        audit = AuditLog(db)
        queue = ApprovalQueue(db, settings.approvals, PayloadCipher.from_settings(settings), audit)
        try:
            return await work(queue, ReviewerStore(db))
        finally:
            await queue.aclose()
            await audit.aclose()
            await db.aclose()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


def hold(settings: Settings, *items: Held) -> list[str]:
    async def work(queue: ApprovalQueue, _: ReviewerStore) -> list[str]:
        return [(await queue.hold(item)).approval_id for item in items]

    ids: list[str] = run(settings, work)
    return ids


def add_reviewer(settings: Settings, name: str, groups: list[str], token: bool = False) -> str | None:
    """Create a reviewer (password PASSWORD); with `token`, return a new API token for them."""

    async def work(_: ApprovalQueue, reviewers: ReviewerStore) -> str | None:
        await reviewers.add(name, groups, password=PASSWORD)
        return await reviewers.create_token(name) if token else None

    created: str | None = run(settings, work)
    return created


def approval(settings: Settings, approval_id: str) -> Any:
    async def work(queue: ApprovalQueue, _: ReviewerStore) -> Any:
        return await queue.get(approval_id)

    return run(settings, work)


def refusals(settings: Settings) -> list[dict[str, Any]]:
    async def work(queue: ApprovalQueue, _: ReviewerStore) -> list[dict[str, Any]]:
        return [row async for row in queue.audit.read() if row["event"] == "refused"]

    found: list[dict[str, Any]] = run(settings, work)
    return found
