"""A reviewer working the queue from outside the gateway process's loop: another 'replica' on the same store."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.approvals.cipher import PayloadCipher
from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.records import Approval, Reviewer
from gateway.audit.records import AuditLog
from gateway.settings import Settings
from gateway.store.db import Database
from tests.helpers import wait_until

FINANCE = Reviewer(name="fiona", groups=["finance"], via="test")


def _run(settings: Settings, work: Any) -> Any:
    async def go() -> Any:
        db = Database(settings.database_url)
        queue = ApprovalQueue(db, settings.approvals, PayloadCipher.from_settings(settings), AuditLog(db))
        try:
            return await work(queue)
        finally:
            await queue.audit.aclose()
            await db.aclose()

    return asyncio.run(go())


def pending(settings: Settings, count: int = 1, timeout: float = 10) -> list[Approval]:
    """Wait until `count` approvals are pending; returns them, oldest first."""
    found = wait_until(
        lambda: _run(settings, lambda q: q.find(status="pending")),
        lambda found: len(found) >= count,
        timeout,
        failure=f"fewer than {count} pending approvals",
    )
    return list(found)


def decide(settings: Settings, approval_id: str, verdict: str, comment: str | None = None, who: Reviewer = FINANCE):
    return _run(settings, lambda q: q.decide(approval_id, who, verdict, comment))


def payload(settings: Settings, approval_id: str) -> dict[str, Any]:
    return dict(_run(settings, lambda q: q.payload(approval_id)))


def get(settings: Settings, approval_id: str) -> Approval:
    return _run(settings, lambda q: q.get(approval_id))  # type: ignore[no-any-return]
