"""`gateway approvals list|show|approve|reject|extend`: the approval queue from the command line.

Deciding takes `--as REVIEWER` (or GATEWAY_REVIEWER): an existing reviewer account whose groups apply just
as on the web page; the decision is audited as made `via` "cli". Approving re-asks the current policy first,
as the running gateway does, so an approval the policy would now deny becomes a rejection. Every refusal
(wrong group, a second vote by the same reviewer, too late) prints `error: ...` and exits 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from gateway.approvals.cipher import PayloadCipher
from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.records import STATUSES, Approval, Reviewer
from gateway.approvals.reviewers import ReviewerStore
from gateway.audit.records import AuditLog
from gateway.cli.common import ConfigOption, error, settings_from, with_db
from gateway.errors import ApprovalRefused, GatewayError
from gateway.metrics import Metrics
from gateway.model import Decision
from gateway.policy.engine import PolicyEngine
from gateway.policy.factory import build_engine
from gateway.settings import Settings
from gateway.stages.decide import evaluate
from gateway.store.db import Database

T = TypeVar("T")

app = typer.Typer(help="The approval queue: held calls waiting for a reviewer.", no_args_is_help=True)

IdArgument = Annotated[str, typer.Argument(help="Approval id (see `gateway approvals list`)")]
AsOption = Annotated[
    str,
    typer.Option("--as", envvar="GATEWAY_REVIEWER", help="Reviewer deciding (an account from `gateway reviewers add`)"),
]
CommentOption = Annotated[str | None, typer.Option(help="Why; kept with the approval and in the audit log")]


class PolicyRecheck:
    """The current policy's decision on a held call's input. The engine is built on first use: only
    approving needs it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: PolicyEngine | None = None

    async def __call__(self, input_doc: dict[str, Any]) -> Decision:
        call = input_doc.get("call")
        if not isinstance(call, dict) or call.get("phase") not in ("request", "response"):
            return Decision.failed("request", "policy_error", "the held call's input is incomplete; cannot re-check")
        if self._engine is None:
            self._engine = await build_engine(self.settings.policy)
        return await evaluate(self._engine, input_doc, self.settings.policy, Metrics())

    async def aclose(self) -> None:
        if self._engine is not None:
            await self._engine.aclose()


def _run(config: Path | None, work: Callable[[ApprovalQueue, ReviewerStore], Awaitable[T]]) -> T:
    """Run `work` on the configured queue; a refusal (or an unusable store or key) exits 1 saying why."""
    settings = settings_from(config)

    async def run(db: Database) -> T:
        recheck, audit = PolicyRecheck(settings), AuditLog(db)
        queue = ApprovalQueue(db, settings.approvals, PayloadCipher.from_settings(settings), audit, recheck)
        try:
            return await work(queue, ReviewerStore(db))
        finally:
            await audit.aclose()  # the refusal or decision is on record before we exit
            await recheck.aclose()

    try:
        return with_db(settings, run)
    except GatewayError as exc:
        error(exc.message)
        raise typer.Exit(1) from exc


async def _approval(queue: ApprovalQueue, approval_id: str) -> Approval:
    approval = await queue.get(approval_id)
    if approval is None:
        raise ApprovalRefused(f"no approval with id {approval_id!r}", approval_id)
    return approval


@app.command("list")
def list_approvals(
    status: Annotated[str | None, typer.Option(help="pending, approved, rejected, expired or used")] = None,
    agent: Annotated[str | None, typer.Option(help="Only this agent's calls")] = None,
    team: Annotated[str | None, typer.Option(help="Only this team's calls")] = None,
    group: Annotated[str | None, typer.Option(help="Only calls for this approvers group")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON array instead of a table")] = False,
    limit: Annotated[int, typer.Option(min=1, help="At most this many")] = 200,
    config: ConfigOption = None,
) -> None:
    """List approvals: pending ones first (oldest first: they expire soonest), then the rest, newest first."""
    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"{status!r} is not one of {', '.join(STATUSES)}", param_hint="--status")
    approvals = _run(config, lambda queue, _: queue.find(status, agent, team, group, limit))
    if as_json:
        typer.echo(json.dumps([a.model_dump(mode="json") for a in approvals], indent=2))
    elif not approvals:
        typer.echo("no approvals match")
    else:
        _console().print(_table(approvals))


def _console() -> Console:
    # Piped output would otherwise be cut to 80 columns and lose the ids a script or a person copies.
    return Console(width=None if sys.stdout.isatty() else 200)


def _table(approvals: list[Approval]) -> Table:
    table = Table(box=None, pad_edge=False)
    table.add_column("ID", no_wrap=True)
    for name in ("STATUS", "AGENT", "TEAM", "TARGET", "TOOLS", "APPROVERS", "VOTES", "DUE / DECIDED", "NOTIFY"):
        table.add_column(name)
    table.add_column("REASON", max_width=60)
    for a in approvals:
        when = a.expires_at if a.status == "pending" else (a.decided_at or a.updated_at)
        table.add_row(
            a.approval_id,
            a.status,
            a.agent,
            a.team or "-",
            f"{a.kind} {a.target or '-'}",
            ", ".join(a.tool_calls) or "-",
            a.approvers or "-",
            f"{len(a.votes)}/{a.required}",
            _when(when),
            str(a.notify.get("status", "-")),
            a.reason,
        )
    return table


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


@app.command("show")
def show(approval_id: IdArgument, config: ConfigOption = None) -> None:
    """The approval and the held action (decrypted) as JSON."""

    async def work(queue: ApprovalQueue, _: ReviewerStore) -> dict[str, Any]:
        approval = await _approval(queue, approval_id)
        payload = await queue.payload(approval_id)
        return {**approval.model_dump(mode="json"), "action": payload.get("action")}

    typer.echo(json.dumps(_run(config, work), indent=2, default=str))


@app.command("approve")
def approve(
    approval_id: IdArgument, reviewer: AsOption, comment: CommentOption = None, config: ConfigOption = None
) -> None:
    """Approve a held call (after the current policy is asked again)."""
    _report(_decide(approval_id, reviewer, "approve", comment, config), "approve")


@app.command("reject")
def reject(
    approval_id: IdArgument, reviewer: AsOption, comment: CommentOption = None, config: ConfigOption = None
) -> None:
    """Reject a held call; the agent gets the comment as the reason."""
    _report(_decide(approval_id, reviewer, "reject", comment, config), "reject")


@app.command("extend")
def extend(
    approval_id: IdArgument,
    seconds: Annotated[float, typer.Option(help="Seconds to add to the deadline (up to approvals.max_extend_s)")],
    reviewer: AsOption,
    config: ConfigOption = None,
) -> None:
    """Push a pending approval's deadline back."""

    async def work(queue: ApprovalQueue, reviewers: ReviewerStore) -> Approval:
        return await queue.extend(approval_id, await _reviewer(reviewers, reviewer), seconds)

    approval = _run(config, work)
    typer.echo(f"extended {approval.approval_id}: it now expires at {_when(approval.expires_at)} UTC")


def _decide(approval_id: str, name: str, verdict: str, comment: str | None, config: Path | None) -> Approval:
    async def work(queue: ApprovalQueue, reviewers: ReviewerStore) -> Approval:
        return await queue.decide(approval_id, await _reviewer(reviewers, name), verdict, comment)

    return _run(config, work)


async def _reviewer(reviewers: ReviewerStore, name: str) -> Reviewer:
    found = await reviewers.get(name)
    if found is None:
        raise ApprovalRefused(f"no active reviewer named {name!r} (add one with `gateway reviewers add`)")
    return found.model_copy(update={"via": "cli"})


def _report(approval: Approval, verdict: str) -> None:
    """Say what happened; exit 1 when an approval did not take (the policy, re-asked, now denies the call)."""
    if verdict == "approve" and approval.status == "rejected":
        error(f"{approval.approval_id} was rejected: the policy now denies the call ({approval.comment})")
        raise typer.Exit(1)
    if approval.status == "pending":
        typer.echo(
            f"approved {approval.approval_id}: {len(approval.votes)} of {approval.required} approvals;"
            " it waits for another reviewer"
        )
        return
    typer.echo(f"{approval.status} {approval.approval_id} ({approval.kind} call to {approval.target or '-'})")
