"""The approval queue: a state machine over the `approvals` table, shared by every replica on the store.

    pending ──approve (enough votes)──▶ approved ──redeemed once by the agent──▶ used
       │ ──reject (any reviewer, or the policy re-checked)──▶ rejected
       └──deadline passed (extend pushes it)──▶ expired

Every transition is a conditional UPDATE on the row's `version`, so two reviewers, two replicas or a
reviewer and the expiry sweep cannot both win; every transition, and every refusal, is an audit event
written before the caller hears of it. A receipt (an approved approval) is bound to the agent, the hash of
the exact action and the policy version it was held under; it is redeemed once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from gateway.approvals.changes import CHANNEL, ChangeFeed
from gateway.approvals.cipher import PayloadCipher
from gateway.approvals.records import Approval, Held, Reviewer, Status
from gateway.approvals.reviewers import owner_of
from gateway.audit.events import AuditEvent, EventType
from gateway.audit.records import AuditLog
from gateway.clock import SYSTEM_CLOCK, Clock
from gateway.errors import (
    ApprovalConflict,
    ApprovalExpired,
    ApprovalRefused,
    ApprovalRejected,
    GatewayError,
    StoreUnavailable,
)
from gateway.model import Decision, new_id
from gateway.settings import ApprovalsConfig
from gateway.store.db import Database
from gateway.store.tables import ApprovalRow
from gateway.store.tables import Reviewer as ReviewerRow

log = logging.getLogger("gateway.approvals")

Recheck = Callable[[dict[str, Any]], Awaitable[Decision]]
Notify = Callable[[Approval], None]


class ApprovalQueue:
    def __init__(
        self,
        db: Database,
        config: ApprovalsConfig,
        cipher: PayloadCipher,
        audit: AuditLog,
        recheck: Recheck | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.db = db
        self.config = config
        self.cipher = cipher
        self.audit = audit
        self.recheck = recheck
        self.clock = clock  # deadlines, the time to redeem a receipt and the expiry sweep go by it
        self.changes = ChangeFeed(db, config.poll_s, clock)
        self.on_held: list[Notify] = []  # told of each new hold (the webhook notifier)
        self._sweeper: asyncio.Task[None] | None = None
        self.decided: collections.Counter[str] = collections.Counter()  # holds closed here, by outcome (metrics)

    # -- life cycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.changes.start()
        self._sweeper = asyncio.create_task(self._sweep())

    async def aclose(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.changes.aclose()

    # -- reading ----------------------------------------------------------------------------------------

    async def get(self, approval_id: str) -> Approval | None:
        async with self._session() as session:
            row = await session.get(ApprovalRow, approval_id)
            return Approval.of(row) if row else None

    async def find(
        self,
        status: Status | None = None,
        agent: str | None = None,
        team: str | None = None,
        group: str | None = None,
        limit: int = 200,
    ) -> list[Approval]:
        """Pending first (oldest first: they expire soonest), then the rest, newest first."""
        query = select(ApprovalRow)
        for column, value in ((ApprovalRow.status, status), (ApprovalRow.agent, agent), (ApprovalRow.team, team)):
            if value:
                query = query.where(column == value)
        if group:
            query = query.where(ApprovalRow.approvers == group)
        async with self._session() as session:
            rows = (await session.scalars(query.order_by(ApprovalRow.created_at.desc()).limit(limit))).all()
        approvals = [Approval.of(row) for row in rows]
        pending = sorted((a for a in approvals if a.status == "pending"), key=lambda a: a.created_at)
        return pending + [a for a in approvals if a.status != "pending"]

    async def pending_count(self) -> int:
        async with self._session() as session:
            return int(await session.scalar(select(func.count()).where(ApprovalRow.status == "pending")) or 0)

    async def payload(self, approval_id: str) -> dict[str, Any]:
        async with self._session() as session:
            row = await session.get(ApprovalRow, approval_id)
            if row is None:
                raise ApprovalRefused("no such approval", approval_id)
            return self.cipher.open(row.payload)

    # -- the agent's side -------------------------------------------------------------------------------

    async def hold(self, held: Held) -> Approval:
        """Park a call: stored (payload encrypted) and audited before this returns; reviewers are told."""
        now = self.clock.now()
        values = held.model_dump(exclude={"payload"})
        row = ApprovalRow(
            **values,
            approval_id=new_id(),
            status="pending",
            payload=self.cipher.seal(held.payload),
            required=self.config.required,
            votes=[],
            created_at=now,
            expires_at=now + timedelta(seconds=self.config.timeout_s),
            updated_at=now,
            version=1,
            notify={"status": "off"} if self.config.webhook is None else {"status": "pending", "attempts": 0},
        )
        async with self._session() as session, session.begin():
            session.add(row)
            await self._notify_replicas(session, row.approval_id)
        approval = Approval.of(row)
        await self._audit(approval, "held", None, [f"held: {held.reason}", *held.reasons])
        self.changes.publish(approval.approval_id, (approval.version, approval.updated_at))
        for notify in self.on_held:
            notify(approval)
        return approval

    async def find_reusable(self, agent: str, action_hash: str, policy_version: str, phase: str) -> Approval | None:
        """An identical call's approval that can still serve this one (pending, or approved and unused): an
        agent's retry waits on the same approval instead of queueing a second one."""
        query = (
            select(ApprovalRow)
            .where(
                ApprovalRow.agent == agent,
                ApprovalRow.action_hash == action_hash,
                ApprovalRow.policy_version == policy_version,
                ApprovalRow.phase == phase,
                ApprovalRow.status.in_(("pending", "approved")),
            )
            .order_by(ApprovalRow.created_at.desc())
            .limit(1)
        )
        async with self._session() as session:
            row = await session.scalar(query)
        approval = Approval.of(row) if row else None
        if approval is None or self._stale(approval):
            return None
        return approval

    async def redeem(self, approval_id: str, agent: str, action_hash: str, policy_version: str) -> Approval:
        """Use an approved receipt, once: the agent, the action and the policy version must be those held."""
        approval = await self.get(approval_id)
        if approval is None:
            raise await self._refuse(None, agent, f"approval {approval_id[:64]!r} does not exist")
        problem = None
        if approval.agent != agent:
            problem = "the approval was given to another agent"
        elif approval.action_hash != action_hash:
            problem = "the call differs from the one that was approved"
        elif approval.policy_version != policy_version:
            problem = "the policy changed since the call was held; it must be approved again"
        elif approval.status == "used":
            problem = "the approval was already used"
        if problem:
            raise await self._refuse(approval, agent, problem)
        approval = await self.settle(approval)
        if approval.status != "approved":
            raise self.outcome_error(approval)
        won = await self._transition(approval, "used", {"used_at": self.clock.now()})
        if won is None:
            raise await self._refuse(approval, agent, "the approval was already used")
        await self._audit(won, "released", agent, ["approved call released"], allow=True)
        return won

    async def wait(self, approval: Approval) -> Approval:
        """Until the approval is decided or its deadline passes (reviewers may extend it while we wait)."""
        while approval.status == "pending":
            remaining = (approval.expires_at - self.clock.now()).total_seconds()
            if remaining <= 0:
                return await self.settle(approval)
            await self.changes.changed(approval.approval_id, min(remaining, self.config.poll_s * 5))
            approval = await self.get(approval.approval_id) or approval
        return approval

    async def settle(self, approval: Approval) -> Approval:
        """The approval as it stands now: a pending one past its deadline, or an approved one past the time to
        redeem it, expires here (and is audited) if the sweep has not got to it yet."""
        if self._stale(approval):
            expired = await self._transition(approval, "expired", {"decided_at": self.clock.now()})
            if expired is not None:
                await self._audit(expired, "expired", None, ["no decision before the deadline"])
                return expired
            return await self.get(approval.approval_id) or approval
        return approval

    def outcome_error(self, approval: Approval) -> ApprovalRejected | ApprovalExpired | ApprovalRefused:
        """The error an agent gets for an approval that will not let its call go ahead."""
        what = f"{approval.kind} call to {approval.target}" + (
            f" ({', '.join(approval.tool_calls)})" if approval.tool_calls else ""
        )
        details = {"reason": approval.reason, "comment": approval.comment, "decided_by": approval.decided_by}
        if approval.status == "rejected":
            because = f": {approval.comment}" if approval.comment else ""
            return ApprovalRejected(
                f"held {what} was rejected by {approval.decided_by}{because} (held because: {approval.reason})",
                approval.approval_id,
                **details,
            )
        if approval.status == "expired":
            return ApprovalExpired(
                f"held {what} expired: nobody decided in time (held because: {approval.reason})",
                approval.approval_id,
                **details,
            )
        return ApprovalRefused(f"held {what} is {approval.status}", approval.approval_id, **details)

    # -- the reviewer's side ----------------------------------------------------------------------------

    async def decide(self, approval_id: str, reviewer: Reviewer, verdict: str, comment: str | None) -> Approval:
        """Approve or reject, as `reviewer`; refusals (wrong group, a second vote, too late) raise and are
        audited. Approving re-asks the policy first: if it now denies, the approval is rejected instead."""
        if verdict not in ("approve", "reject"):
            raise ApprovalRefused(f"unknown verdict {verdict!r}: approve or reject", approval_id)
        comment = (comment or "").strip()[:2000] or None
        approval = await self.get(approval_id)
        if approval is None:
            raise ApprovalRefused("no such approval", approval_id)
        approval = await self.settle(approval)
        await self._may_decide(approval, reviewer)
        if verdict == "reject":
            return await self._close(approval, reviewer, "rejected", comment)
        if self.recheck is not None:
            decision = await self.recheck((await self.payload(approval_id)).get("input") or {})
            if not decision.allow:
                why = "; ".join(decision.reasons) or "the policy now denies this call"
                return await self._close(approval, Reviewer(name="policy", via="recheck"), "rejected", why)
        votes = [*approval.votes, {"reviewer": reviewer.name, "via": reviewer.via, "at": self.clock.now().isoformat()}]
        if len(votes) < approval.required:
            won = await self._transition(approval, "pending", {"votes": votes, "comment": comment})
            if won is None:
                raise await self._refuse(
                    approval, reviewer.name, "the approval changed meanwhile; try again", conflict=True
                )
            await self._audit(won, "approved", reviewer.name, [f"vote {len(votes)} of {approval.required}"])
            return won
        return await self._close(approval, reviewer, "approved", comment, votes)

    async def extend(self, approval_id: str, reviewer: Reviewer, seconds: float) -> Approval:
        approval = await self.get(approval_id)
        if approval is None:
            raise ApprovalRefused("no such approval", approval_id)
        approval = await self.settle(approval)
        await self._may_decide(approval, reviewer)
        if not 0 < seconds <= self.config.max_extend_s:
            raise await self._refuse(approval, reviewer.name, f"extend by 1 to {self.config.max_extend_s:g} seconds")
        deadline = max(approval.expires_at, self.clock.now()) + timedelta(seconds=seconds)
        won = await self._transition(approval, "pending", {"expires_at": deadline})
        if won is None:
            raise await self._refuse(
                approval, reviewer.name, "the approval changed meanwhile; try again", conflict=True
            )
        await self._audit(won, "held", reviewer.name, [f"deadline extended to {deadline.isoformat()}"])
        return won

    async def record_notify(self, approval_id: str, state: dict[str, Any]) -> None:
        """The webhook's delivery state, shown in the queue. Not a transition: no audit event, and the version
        stays, so a reviewer deciding meanwhile is not told the approval changed under them."""
        async with self._session() as session, session.begin():
            await session.execute(
                update(ApprovalRow)
                .where(ApprovalRow.approval_id == approval_id)
                .values(notify=state, updated_at=self.clock.now())
            )
            await self._notify_replicas(session, approval_id)
        self.changes.publish(approval_id)

    async def expire_due(self) -> list[Approval]:
        """Expire every pending approval past its deadline (default deny), each audited once."""
        due = select(ApprovalRow).where(ApprovalRow.status == "pending", ApprovalRow.expires_at < self.clock.now())
        async with self._session() as session:
            rows = (await session.scalars(due)).all()
        return [a for a in [await self.settle(Approval.of(row)) for row in rows] if a.status == "expired"]

    # -- internals --------------------------------------------------------------------------------------

    def _stale(self, approval: Approval) -> bool:
        now = self.clock.now()
        if approval.status == "pending":
            return approval.expires_at <= now
        if approval.status == "approved" and approval.decided_at is not None:
            return approval.decided_at + timedelta(seconds=self.config.receipt_ttl_s) <= now
        return False

    async def _may_decide(self, approval: Approval, reviewer: Reviewer) -> None:
        problem = None
        if approval.status != "pending":
            problem = f"the approval is {approval.status}, not pending"
        elif not reviewer.may_decide(approval.approvers):
            problem = f"{reviewer.name} is not in the approvers group {approval.approvers!r}"
        elif any(v["reviewer"] == reviewer.name for v in approval.votes):
            problem = f"{reviewer.name} already approved; a different reviewer must give the next approval"
        elif (own := owner_of(approval, await self._owned(reviewer.name))) is not None:
            problem = f"{reviewer.name} owns {own}, which asked for this call; another reviewer must decide it"
        if problem:
            raise await self._refuse(approval, reviewer.name, problem)

    async def _close(
        self,
        approval: Approval,
        reviewer: Reviewer,
        status: Status,
        comment: str | None,
        votes: list[dict[str, Any]] | None = None,
    ) -> Approval:
        values: dict[str, Any] = {"decided_by": reviewer.name, "comment": comment, "decided_at": self.clock.now()}
        if votes is not None:
            values["votes"] = votes
        won = await self._transition(approval, status, values)
        if won is None:
            raise await self._refuse(
                approval, reviewer.name, "the approval changed meanwhile; try again", conflict=True
            )
        event: EventType = "approved" if status == "approved" else "rejected"
        reasons = [f"{status} by {reviewer.name} ({reviewer.via})" + (f": {comment}" if comment else "")]
        await self._audit(won, event, reviewer.name, reasons, allow=status == "approved")
        return won

    async def _transition(self, approval: Approval, status: Status, values: dict[str, Any]) -> Approval | None:
        """Move the row from the version we read to `status`; None when someone else changed it first."""
        async with self._session() as session, session.begin():
            result = await session.execute(
                update(ApprovalRow)
                .where(ApprovalRow.approval_id == approval.approval_id, ApprovalRow.version == approval.version)
                .values(status=status, updated_at=self.clock.now(), version=approval.version + 1, **values)
            )
            if not result.rowcount:
                return None
            await self._notify_replicas(session, approval.approval_id)
        if approval.status == "pending" and status != "pending":
            self.decided[status] += 1
        fresh = await self.get(approval.approval_id)
        if fresh is None:
            raise GatewayError("internal check failed: fresh is not None")
        self.changes.publish(fresh.approval_id, (fresh.version, fresh.updated_at))
        return fresh

    async def _notify_replicas(self, session: Any, approval_id: str) -> None:
        if self.db.url.startswith("postgresql"):  # delivered to listeners when the transaction commits
            await session.execute(text("SELECT pg_notify(:channel, :id)"), {"channel": CHANNEL, "id": approval_id})

    async def _refuse(
        self, approval: Approval | None, actor: str | None, problem: str, conflict: bool = False
    ) -> ApprovalRefused:
        """The refusal, audited; `conflict`: another decision got there first (409: look again, try again)."""
        if approval is not None:
            await self._audit(approval, "refused", actor, [problem])
        else:
            await self.audit.write([refusal(actor, problem).row()])
        kind = ApprovalConflict if conflict else ApprovalRefused
        return kind(problem, approval.approval_id if approval else None)

    async def _audit(
        self, approval: Approval, event: EventType, actor: str | None, reasons: list[str], allow: bool = False
    ) -> None:
        if not await self.audit.write([transition_event(approval, event, actor, reasons, allow).row()]):
            raise StoreUnavailable("the audit log cannot be written; the approval queue is unavailable")

    def _session(self) -> Any:
        return _Session(self.db)

    async def _owned(self, name: str) -> list[str]:
        """What the reviewer account `name` owns (an OIDC reviewer of that name is that person too)."""
        async with self._session() as session:
            row = await session.get(ReviewerRow, name)
        return list(row.owns or []) if row is not None else []

    async def _sweep(self) -> None:
        while True:
            await self.clock.sleep(max(1.0, self.config.poll_s))
            try:
                await self.expire_due()
            except (StoreUnavailable, SQLAlchemyError, OSError) as exc:
                log.warning("approvals: expiry sweep failed: %s", exc)


class _Session:
    """A store session whose connection failures become `StoreUnavailable` (a 503 for the caller)."""

    def __init__(self, db: Database) -> None:
        self._deadline = db.deadline()  # the whole block: a store that stops answering is a 503, not a hang
        self._cm = db.sessions()

    async def __aenter__(self) -> Any:
        await self._deadline.__aenter__()
        try:
            return await self._cm.__aenter__()
        except (SQLAlchemyError, OSError) as exc:
            await self._deadline.__aexit__(None, None, None)
            raise StoreUnavailable("the approval store is unavailable; try again shortly") from exc

    async def __aexit__(self, kind: Any, value: Any, traceback: Any) -> None:
        try:
            try:
                await self._cm.__aexit__(kind, value, traceback)
            finally:
                await self._deadline.__aexit__(kind, value, traceback)
        except (SQLAlchemyError, OSError) as error:
            raise StoreUnavailable("the approval store is unavailable; try again shortly") from error
        if isinstance(value, SQLAlchemyError | OSError):  # failed inside the block: the same 503
            raise StoreUnavailable("the approval store is unavailable; try again shortly") from value


def transition_event(
    approval: Approval, event: EventType, actor: str | None, reasons: list[str], allow: bool = False
) -> AuditEvent:
    return AuditEvent(
        event=event,
        decision_id=new_id(),
        call_id=approval.call_id,
        request_id=approval.request_id,
        agent=approval.agent,
        team=approval.team,
        key_id=approval.key_id,
        end_user=approval.end_user,
        surface=approval.surface,
        kind=approval.kind,
        target=approval.target,
        phase=approval.phase,
        allow=allow,
        reasons=reasons,
        policy_version=approval.policy_version or None,
        tool_calls=approval.tool_calls,
        approval_id=approval.approval_id,
        actor=actor,
    )


def refusal(actor: str | None, problem: str, **fields: Any) -> AuditEvent:
    """The audit event of a refusal that concerns no approval the queue knows (an unknown id, a bad sign-in)."""
    return AuditEvent(
        event="refused",
        decision_id=new_id(),
        call_id=new_id(),
        request_id=secrets.token_hex(8),
        surface="approvals",
        reasons=[problem],
        actor=actor,
        **fields,
    )
