"""What the queue hands out: an approval as a value (never the ORM row), and who is deciding."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from gateway.store.tables import ApprovalRow

Status = Literal["pending", "approved", "rejected", "expired", "used"]
STATUSES: tuple[Status, ...] = ("pending", "approved", "rejected", "expired", "used")


def aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything the gateway stores is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class HeldCall(BaseModel):
    """What is known of a held call besides its payload: who, what, why, and what a receipt is bound to."""

    phase: str
    kind: str
    surface: str
    agent: str
    team: str | None
    key_id: str
    end_user: str | None
    target: str | None
    approvers: str | None
    reason: str
    reasons: list[str]
    tool_calls: list[str]
    action_hash: str
    request_hash: str
    policy_version: str
    decision_id: str
    call_id: str
    request_id: str


class Approval(HeldCall):
    """One held action and where it stands. The action itself is in the encrypted payload."""

    approval_id: str
    status: Status
    required: int
    votes: list[dict[str, Any]]
    decided_by: str | None
    comment: str | None
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    used_at: datetime | None
    updated_at: datetime
    version: int
    notify: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, row: ApprovalRow) -> Approval:
        values = {name: getattr(row, name) for name in cls.model_fields}
        for name in ("created_at", "expires_at", "decided_at", "used_at", "updated_at"):
            if values[name] is not None:
                values[name] = aware(values[name])
        return cls.model_validate(values)

    def summary(self, base_url: str = "") -> dict[str, Any]:
        """What an agent may know of its own approval (no reviewer names beyond the decider, no payload)."""
        return {
            "object": "gateway.approval",
            "id": self.approval_id,
            "status": self.status,
            "phase": self.phase,
            "reason": self.reason,
            "approvers": self.approvers,
            "target": self.target,
            "tool_calls": self.tool_calls,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "comment": self.comment,
            "status_url": f"{base_url}/v1/approvals/{self.approval_id}",
        }


class Reviewer(BaseModel):
    """Someone deciding: a reviewer account (web, API token, CLI `--as`), or the gateway itself."""

    name: str
    groups: list[str] = Field(default_factory=list)
    via: str = "web"  # web, api, cli, oidc

    def may_decide(self, approvers: str | None) -> bool:
        return approvers is None or approvers in self.groups


class Held(HeldCall):
    """A new hold, as the hold stage describes it."""

    payload: dict[str, Any]  # action (what reviewers see), input (for the re-check), reply (to replay)
