"""The approval queue on its own: expiry without anyone looking, the policy re-checked at the click, four
eyes, races between deciders, the payload encrypted at rest."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select

from gateway.approvals.cipher import PayloadCipher
from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.records import Held, Reviewer
from gateway.audit.records import AuditLog
from gateway.clock import SYSTEM_CLOCK, Clock, FakeClock
from gateway.errors import ApprovalRefused
from gateway.model import Decision
from gateway.settings import Settings
from gateway.store.db import Database
from gateway.store.tables import ApprovalRow

ALICE = Reviewer(name="alice", groups=["finance"])
BOB = Reviewer(name="bob", groups=["finance"])


def held(**overrides: Any) -> Held:
    values: dict[str, Any] = {
        "phase": "response",
        "kind": "model",
        "surface": "openai",
        "agent": "payments-bot",
        "team": "ops",
        "key_id": "k1",
        "end_user": None,
        "target": "gpt",
        "approvers": "finance",
        "reason": "transfer over 1000",
        "reasons": [],
        "tool_calls": ["transfer_funds"],
        "action_hash": "a" * 64,
        "request_hash": "b" * 64,
        "policy_version": "v1",
        "decision_id": "d" * 32,
        "call_id": "c" * 32,
        "request_id": "r1",
        "payload": {"action": {"tool_calls": [{"name": "transfer_funds", "arguments": {"iban": "SECRET-IBAN-42"}}]}},
    }
    values.update(overrides)
    return Held(**values)


async def with_queue(
    database_url: str, work: Any, recheck: Any = None, clock: Clock = SYSTEM_CLOCK, **config: Any
) -> Any:
    settings = Settings.model_validate({"database_url": database_url, "approvals": config})
    db = Database(database_url)
    await db.migrate()
    audit = AuditLog(db)
    queue = ApprovalQueue(db, settings.approvals, PayloadCipher.from_settings(settings), audit, recheck, clock)
    try:
        return await work(queue, db)
    finally:
        await queue.aclose()
        await audit.aclose()
        await db.aclose()


async def events(queue: ApprovalQueue, approval_id: str) -> list[str]:
    return [r["event"] async for r in queue.audit.read() if r["approval_id"] == approval_id]


def test_a_hold_nobody_looks_at_expires_and_is_audited(sqlite_url):
    clock = FakeClock()

    async def work(queue: ApprovalQueue, db: Database) -> None:
        approval = await queue.hold(held())
        clock.advance(299)
        assert await queue.expire_due() == []
        clock.advance(2)  # its deadline passes
        expired = await queue.expire_due()
        assert [a.approval_id for a in expired] == [approval.approval_id]
        assert (await queue.get(approval.approval_id)).status == "expired"  # type: ignore[union-attr]
        assert await queue.expire_due() == []  # once
        assert await events(queue, approval.approval_id) == ["held", "expired"]
        with pytest.raises(ApprovalRefused, match="expired, not pending"):
            await queue.decide(approval.approval_id, ALICE, "approve", None)

    asyncio.run(with_queue(sqlite_url, work, clock=clock, timeout_s=300))


def test_the_policy_is_asked_again_when_the_reviewer_approves(sqlite_url):
    async def now_denies(input_doc: dict[str, Any]) -> Decision:
        return Decision(phase="response", allow=False, reasons=["transfers are frozen"])

    async def work(queue: ApprovalQueue, db: Database) -> None:
        approval = await queue.hold(held())
        decided = await queue.decide(approval.approval_id, ALICE, "approve", "looks fine")
        assert (decided.status, decided.decided_by, decided.comment) == ("rejected", "policy", "transfers are frozen")
        assert await events(queue, approval.approval_id) == ["held", "rejected"]

    asyncio.run(with_queue(sqlite_url, work, recheck=now_denies))


def test_four_eyes_needs_two_different_reviewers(sqlite_url):
    async def work(queue: ApprovalQueue, db: Database) -> None:
        approval = await queue.hold(held())
        first = await queue.decide(approval.approval_id, ALICE, "approve", None)
        assert first.status == "pending" and [v["reviewer"] for v in first.votes] == ["alice"]
        with pytest.raises(ApprovalRefused, match="a different reviewer"):
            await queue.decide(approval.approval_id, ALICE, "approve", None)
        second = await queue.decide(approval.approval_id, BOB, "approve", None)
        assert second.status == "approved" and second.decided_by == "bob"
        assert await events(queue, approval.approval_id) == ["held", "approved", "refused", "approved"]

    asyncio.run(with_queue(sqlite_url, work, required=2))


def test_two_reviewers_at_once_one_wins(database_url):
    async def work(queue: ApprovalQueue, db: Database) -> None:
        approval = await queue.hold(held())
        outcomes = await asyncio.gather(
            queue.decide(approval.approval_id, ALICE, "approve", None),
            queue.decide(approval.approval_id, BOB, "reject", "no"),
            return_exceptions=True,
        )
        assert sum(isinstance(o, ApprovalRefused) for o in outcomes) == 1
        final = await queue.get(approval.approval_id)
        assert final is not None and final.status in ("approved", "rejected")
        assert (await events(queue, approval.approval_id)).count("refused") == 1

    asyncio.run(with_queue(database_url, work, key_env="GATEWAY_TEST_APPROVALS_KEY"))


def test_receipts_are_bound_and_single_use(sqlite_url):
    async def work(queue: ApprovalQueue, db: Database) -> None:
        approval = await queue.hold(held())
        await queue.decide(approval.approval_id, ALICE, "approve", None)
        for agent, action, version, why in [
            ("other-bot", "a" * 64, "v1", "another agent"),
            ("payments-bot", "x" * 64, "v1", "differs"),
            ("payments-bot", "a" * 64, "v2", "policy changed"),
        ]:
            with pytest.raises(ApprovalRefused, match=why):
                await queue.redeem(approval.approval_id, agent, action, version)
        used = await queue.redeem(approval.approval_id, "payments-bot", "a" * 64, "v1")
        assert used.status == "used" and used.used_at is not None
        with pytest.raises(ApprovalRefused, match="already used"):
            await queue.redeem(approval.approval_id, "payments-bot", "a" * 64, "v1")

    asyncio.run(with_queue(sqlite_url, work))


def test_the_payload_is_encrypted_at_rest_with_a_0600_key_file(tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path}/gateway.db"

    async def work(queue: ApprovalQueue, db: Database) -> None:
        approval = await queue.hold(held())
        async with db.sessions() as session:
            raw = await session.scalar(select(ApprovalRow.payload))
        assert raw is not None and b"SECRET-IBAN-42" not in raw
        assert (await queue.payload(approval.approval_id))["action"]["tool_calls"][0]["arguments"] == {
            "iban": "SECRET-IBAN-42"
        }

    asyncio.run(with_queue(url, work))
    key = tmp_path / "gateway.db.approvals-key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600


def test_payload_keys_come_from_hkdf_and_older_payloads_still_open():
    secret = b"s" * 32
    cipher = PayloadCipher(secret)
    expected = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"gateway approvals payload").derive(secret)
    assert Fernet(base64.urlsafe_b64encode(expected)).decrypt(cipher.seal({"a": 1})) == b'{"a":1}'
    sessions = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"gateway reviewer sessions").derive(secret)
    assert cipher.session_secret == sessions.hex()
    legacy = Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"payload:" + secret).digest()))
    assert cipher.open(legacy.encrypt(b'{"b":2}')) == {"b": 2}
