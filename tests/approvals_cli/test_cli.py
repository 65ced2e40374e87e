"""`gateway approvals ...` and `gateway reviewers ...` as real processes against a SQLite store.

Holds are put in the queue directly (as the hold stage would); the commands then read and decide them.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from gateway.approvals.cipher import PayloadCipher
from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.records import Approval, Held
from gateway.approvals.reviewers import ReviewerStore
from gateway.audit.records import AuditLog
from gateway.settings import Settings, load_settings
from gateway.store.db import Database
from tests.approvals_cli.holds import SECRET_ARGUMENT, held_call
from tests.conftest import POLICIES
from tests.processes import cli, gateway_env

T = TypeVar("T")


class Gateway:
    """The `gateway` command on one config, and direct access to the same store for set-up and checks."""

    def __init__(self, tmp_path: Path) -> None:
        self.config = tmp_path / "gateway.yaml"
        self.config.write_text(
            f"database_url: sqlite+aiosqlite:///{tmp_path}/gateway.db\n"
            f"policy: {{dir: {POLICIES}}}\n"
            f"pii: {{key_file: {tmp_path}/pii.key}}\n"
            f"approvals: {{key_file: {tmp_path}/approvals.key}}\n"
        )
        self.settings: Settings = load_settings(self.config, env={})

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return cli(*args, "--config", str(self.config), env=gateway_env(), stdin=stdin)

    def ok(self, *args: str, stdin: str | None = None) -> str:
        result = self.run(*args, stdin=stdin)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def store(self, work: Callable[[ApprovalQueue, ReviewerStore, Database], Awaitable[T]]) -> T:
        async def run() -> T:
            db = Database(self.settings.database_url)
            await db.migrate()
            audit = AuditLog(db)
            queue = ApprovalQueue(db, self.settings.approvals, PayloadCipher.from_settings(self.settings), audit)
            try:
                return await work(queue, ReviewerStore(db), db)
            finally:
                await audit.aclose()
                await db.aclose()

        return asyncio.run(run())

    def hold(self, held: Held) -> Approval:
        return self.store(lambda queue, _, __: queue.hold(held))

    def approval(self, approval_id: str) -> Approval:
        found = self.store(lambda queue, _, __: queue.get(approval_id))
        assert found is not None
        return found

    def audit_events(self, approval_id: str) -> list[dict[str, Any]]:
        async def read(_: ApprovalQueue, __: ReviewerStore, db: Database) -> list[dict[str, Any]]:
            return [row async for row in AuditLog(db).read() if row.get("approval_id") == approval_id]

        return self.store(read)


@pytest.fixture
def gw(tmp_path: Path) -> Gateway:
    return Gateway(tmp_path)


def test_reviewers_add_with_a_password_from_stdin_list_token_and_disable(gw: Gateway) -> None:
    add = ("reviewers", "add", "alice", "--group", "finance", "--group", "ops", "--password-stdin")
    gw.ok(*add, stdin="horse battery\n")  # the newline `echo` adds is not part of the password
    assert "alice" in gw.ok("reviewers", "list") and "finance, ops" in gw.ok("reviewers", "list")
    signed_in = gw.store(lambda _, reviewers, __: reviewers.authenticate("alice", "horse battery"))
    assert signed_in is not None and signed_in.groups == ["finance", "ops"]
    assert gw.store(lambda _, reviewers, __: reviewers.authenticate("alice", "horse battery\n")) is None

    token = gw.ok("reviewers", "token", "alice").strip().splitlines()[-1]
    by_token = gw.store(lambda _, reviewers, __: reviewers.by_token(token))
    assert by_token is not None and by_token.name == "alice" and by_token.via == "api"

    gw.ok("reviewers", "disable", "alice")
    assert gw.store(lambda _, reviewers, __: reviewers.by_token(token)) is None
    assert "alice" not in gw.ok("reviewers", "list")
    missing = gw.run("reviewers", "token", "alice")
    assert missing.returncode == 1 and "no active reviewer named 'alice'" in missing.stderr


def test_list_show_and_approve(gw: Gateway) -> None:
    gw.ok("reviewers", "add", "alice", "--group", "finance", "--no-password")
    approval = gw.hold(held_call())

    table = gw.ok("approvals", "list")
    assert approval.approval_id in table and "pending" in table and "refund" in table
    listed = json.loads(gw.ok("approvals", "list", "--status", "pending", "--agent", "support-bot", "--json"))
    assert [a["approval_id"] for a in listed] == [approval.approval_id]
    assert SECRET_ARGUMENT not in table + json.dumps(listed)  # the list never shows the held action
    assert gw.ok("approvals", "list", "--group", "ops").strip() == "no approvals match"
    assert gw.run("approvals", "list", "--status", "maybe").returncode == 2

    shown = json.loads(gw.ok("approvals", "show", approval.approval_id))
    assert shown["approval_id"] == approval.approval_id and shown["approvers"] == "finance"
    assert shown["action"]["tool_calls"][0]["arguments"]["api_key"] == SECRET_ARGUMENT

    out = gw.ok("approvals", "approve", approval.approval_id, "--as", "alice", "--comment", "within limits")
    assert f"approved {approval.approval_id}" in out
    decided = gw.approval(approval.approval_id)
    assert decided.status == "approved" and decided.decided_by == "alice" and decided.comment == "within limits"
    assert decided.votes[0]["via"] == "cli"
    events = gw.audit_events(approval.approval_id)
    assert [e["event"] for e in events] == ["held", "approved"]
    assert events[-1]["actor"] == "alice" and "(cli)" in events[-1]["reasons"][0]


def test_a_reviewer_outside_the_approvers_group_is_refused_and_audited(gw: Gateway) -> None:
    gw.ok("reviewers", "add", "bob", "--group", "ops", "--no-password")
    approval = gw.hold(held_call(approvers="finance"))
    refused = gw.run("approvals", "approve", approval.approval_id, "--as", "bob")
    assert refused.returncode == 1
    assert "error: bob is not in the approvers group 'finance'" in refused.stderr
    assert gw.approval(approval.approval_id).status == "pending"
    last = gw.audit_events(approval.approval_id)[-1]
    assert last["event"] == "refused" and last["actor"] == "bob"

    unknown = gw.run("approvals", "reject", approval.approval_id, "--as", "mallory")
    assert unknown.returncode == 1 and "no active reviewer named 'mallory'" in unknown.stderr
    missing = gw.run("approvals", "show", "no-such-id")
    assert missing.returncode == 1 and "no approval with id 'no-such-id'" in missing.stderr


def test_four_eyes_refuse_a_reviewer_on_a_hold_asked_for_by_what_they_own(gw: Gateway) -> None:
    """The person who runs support-bot (or its team, or its key) may not sign off its own risky call."""
    gw.ok("reviewers", "add", "sam", "--group", "finance", "--no-password", "--owns", "agent:support-bot")
    gw.ok("reviewers", "add", "tia", "--group", "finance", "--no-password", "--owns", "team:cs")
    gw.ok("reviewers", "add", "alice", "--group", "finance", "--no-password", "--owns", "agent:billing-bot")
    bad = gw.run("reviewers", "add", "x", "--group", "finance", "--no-password", "--owns", "bot:nope")
    assert bad.returncode == 2 and "agent:NAME" in bad.stderr
    approval = gw.hold(held_call(agent="support-bot"))
    for name, owned in (("sam", "agent:support-bot"), ("tia", "team:cs")):
        refused = gw.run("approvals", "approve", approval.approval_id, "--as", name)
        assert refused.returncode == 1 and f"{name} owns {owned}, which asked for this call" in refused.stderr
        assert gw.audit_events(approval.approval_id)[-1]["event"] == "refused"
    assert gw.approval(approval.approval_id).status == "pending"
    gw.ok("approvals", "approve", approval.approval_id, "--as", "alice")  # owns another agent: may decide
    assert gw.approval(approval.approval_id).status == "approved"


def test_extend_then_reject(gw: Gateway) -> None:
    gw.ok("reviewers", "add", "alice", "--group", "finance", "--no-password")
    approval = gw.hold(held_call())

    gw.ok("approvals", "extend", approval.approval_id, "--seconds", "600", "--as", "alice")
    pushed = gw.approval(approval.approval_id).expires_at - approval.expires_at
    assert timedelta(seconds=595) < pushed < timedelta(seconds=660)
    too_far = gw.run("approvals", "extend", approval.approval_id, "--seconds", "1e9", "--as", "alice")
    assert too_far.returncode == 1 and "extend by 1 to" in too_far.stderr

    gw.ok("approvals", "reject", approval.approval_id, "--as", "alice", "--comment", "Amount too high")
    rejected = gw.approval(approval.approval_id)
    assert rejected.status == "rejected" and rejected.comment == "Amount too high"
    again = gw.run("approvals", "approve", approval.approval_id, "--as", "alice")
    assert again.returncode == 1 and "the approval is rejected, not pending" in again.stderr


def test_approving_asks_the_current_policy_again(gw: Gateway) -> None:
    gw.ok("reviewers", "add", "alice", "--group", "finance", "--no-password")
    approval = gw.hold(held_call(tool="transfer_funds"))  # on the default policy's risky tools list
    result = gw.run("approvals", "approve", approval.approval_id, "--as", "alice")
    assert result.returncode == 1 and "the policy now denies the call" in result.stderr
    assert "risky tools list" in result.stderr
    after = gw.approval(approval.approval_id)
    assert after.status == "rejected" and after.decided_by == "policy"
