"""SQLAlchemy table definitions. Change them only together with a migration in `migrations/versions/`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    """An agent key. Only its SHA-256 is stored; the key itself is shown once, at creation."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    agent: Mapped[str] = mapped_column(String(200), index=True)
    team: Mapped[str | None] = mapped_column(String(200))
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEventRow(Base):
    """One audit event (`gateway.audit.events.AuditEvent`): a decision or a transition of one call.
    Append-only; never holds raw content or PII."""

    __tablename__ = "audit_events"
    __table_args__ = (  # the console's searches (`gateway.audit.search`), newest first under a filter
        Index("ix_audit_events_agent_seq", "agent", "seq"),
        Index("ix_audit_events_team_seq", "team", "seq"),
        Index("ix_audit_events_target_seq", "target", "seq"),
        Index("ix_audit_events_event_seq", "event", "seq"),
        Index("ix_audit_events_request_id", "request_id"),
        Index("ix_audit_events_session_seq", "session", "seq"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    decision_id: Mapped[str] = mapped_column(String(32), unique=True)
    call_id: Mapped[str] = mapped_column(String(32), index=True)
    request_id: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    agent: Mapped[str | None] = mapped_column(String(200))
    team: Mapped[str | None] = mapped_column(String(200))
    key_id: Mapped[str | None] = mapped_column(String(32))
    end_user: Mapped[str | None] = mapped_column(String(200))
    surface: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str | None] = mapped_column(String(200))
    phase: Mapped[str] = mapped_column(String(16))
    allow: Mapped[bool] = mapped_column(Boolean)
    reasons: Mapped[list[str]] = mapped_column(JSON)
    error_code: Mapped[str | None] = mapped_column(String(64))
    fail_open: Mapped[bool] = mapped_column(Boolean, default=False)
    policy_version: Mapped[str | None] = mapped_column(String(64))
    provider: Mapped[str | None] = mapped_column(String(200))
    upstream_model: Mapped[str | None] = mapped_column(String(200))
    upstream_status: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    tool_calls: Mapped[list[str]] = mapped_column(JSON, default=list)
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    total_ms: Mapped[float] = mapped_column(Float)
    detail: Mapped[str | None] = mapped_column(Text)
    event: Mapped[str] = mapped_column(String(16), default="decision", server_default="decision")
    approval_id: Mapped[str | None] = mapped_column(String(32), index=True)
    actor: Mapped[str | None] = mapped_column(String(200))
    pii: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    policy: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the decision's input and answer (replay, why)
    session: Mapped[str | None] = mapped_column(String(64))  # the call's session (`gateway.sessions` id), if any
    injection: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # injection signals of what the call read
    # the event's place in the Merkle tree and its leaf hash (`gateway.audit.leaf`), set by the writer
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    leaf_hash: Mapped[str | None] = mapped_column(String(64))


class AuditHead(Base):
    """The one row (id 1) that orders the audit log: how many events it holds and the tree's frontier.
    Writers lock it in their transaction, so concurrent writers and replicas append to one tree."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    frontier: Mapped[list[str]] = mapped_column(JSON)  # hex subtree roots, `gateway.audit.merkle.Frontier`
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the head itself, signed with each batch (a checkpoint note of `size`): no event is ever outside a signature
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class AuditCheckpoint(Base):
    """A signed checkpoint: the tree's root after `tree_size` events, as a signed note (docs/audit.md).
    The frontier lets the log verify from here once older events are archived and pruned."""

    __tablename__ = "audit_checkpoints"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)
    frontier: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ApprovalRow(Base):
    """A held action waiting for (or past) a reviewer's decision. `payload` is the action and what is needed
    to carry it out, encrypted (`gateway.approvals.cipher`); the other columns hold no content."""

    __tablename__ = "approvals"

    approval_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending approved rejected expired used
    phase: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    surface: Mapped[str] = mapped_column(String(32))
    agent: Mapped[str] = mapped_column(String(200), index=True)
    team: Mapped[str | None] = mapped_column(String(200))
    key_id: Mapped[str] = mapped_column(String(32))
    end_user: Mapped[str | None] = mapped_column(String(200))
    target: Mapped[str | None] = mapped_column(String(200))
    approvers: Mapped[str | None] = mapped_column(String(200), index=True)
    reason: Mapped[str] = mapped_column(Text)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    tool_calls: Mapped[list[str]] = mapped_column(JSON, default=list)
    action_hash: Mapped[str] = mapped_column(String(64), index=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    policy_version: Mapped[str] = mapped_column(String(64))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    required: Mapped[int] = mapped_column(Integer, default=1)
    votes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    comment: Mapped[str | None] = mapped_column(Text)
    decision_id: Mapped[str] = mapped_column(String(32))
    call_id: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)  # bumped by every change (optimistic locking)
    notify: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # webhook delivery: status, attempts, error


class Reviewer(Base):
    """A person who decides held calls. Only a scrypt hash of the password is stored."""

    __tablename__ = "reviewers"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    # the agents, teams and keys this person runs ("agent:NAME", "team:NAME", "key:KEY_ID"): not a reviewer of theirs
    owns: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    password_hash: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ReviewerToken(Base):
    """A bearer token for the admin API, acting as one reviewer. Only its SHA-256 is stored."""

    __tablename__ = "reviewer_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    reviewer: Mapped[str] = mapped_column(String(200), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StoredResponse(Base):
    """A Responses API answer the gateway keeps for `GET /v1/responses/{id}` and `previous_response_id`: the
    response, its input items and the conversation up to it, sealed (encrypted at rest), per agent."""

    __tablename__ = "responses"

    response_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent: Mapped[str] = mapped_column(String(200), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class McpToolPin(Base):
    """The definition of one upstream MCP tool an operator approved (or auto-pinned), and the one last seen.

    A tool is offered only while what the server serves hashes to `approved_hash`."""

    __tablename__ = "mcp_tool_pins"

    server: Mapped[str] = mapped_column(String(200), primary_key=True)
    tool: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)
    approved_hash: Mapped[str | None] = mapped_column(String(64))
    approved: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # name, description, inputSchema, annotations
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    seen_hash: Mapped[str] = mapped_column(String(64))
    seen: Mapped[dict[str, Any]] = mapped_column(JSON)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SessionSummary(Base):
    """What the gateway saw in one agent's session (`gateway.sessions`): types, names and counts, never values.

    `session_id` is a hash of the agent and the session key it sent, so one agent's sessions are out of
    another's reach. Writers update a row only at the `version` they read (no lost updates)."""

    __tablename__ = "sessions"

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent: Mapped[str] = mapped_column(String(200), index=True)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # the session's most suspicious passage of untrusted content, sealed: shown to the reviewer of a call it led to
    flagged: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class ReviewerSignIn(Base):
    """A reviewer's sign-in to the web page (`gateway.approvals.signins`): the session cookie names it, and it
    is good only while it is here, not ended and not expired. Only a hash of the session's id is stored."""

    __tablename__ = "reviewer_sessions"

    session_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    reviewer: Mapped[str] = mapped_column(String(200), index=True)
    via: Mapped[str] = mapped_column(String(16))  # web (password) or oidc
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)  # 8 hours, or the SSO token's exp
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # signed out


class AuthFailure(Base):
    """Failed sign-ins or bad tokens of one subject (an address, or a name at an address) in one window
    (`gateway.approvals.limits`): counted by an atomic upsert, so every worker and replica shares the count."""

    __tablename__ = "auth_failures"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject: Mapped[str] = mapped_column(String(128), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False, index=True)
    failures: Mapped[int] = mapped_column(Integer)


class UsageCounter(Base):
    """One measure of one limit for one subject in one window (`gateway.limits.ledger`): `used` is settled
    usage (calls admitted, tokens, nano-dollars, or calls in flight), `reserved` what calls in flight may still
    use. Every worker and replica changes it by conditional atomic upserts, so a limit holds across all of them."""

    __tablename__ = "usage_counters"

    limit_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    subject: Mapped[str] = mapped_column(String(512), primary_key=True)
    measure: Mapped[str] = mapped_column(String(16), primary_key=True)  # requests, tokens, spend, concurrent
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)  # Unix s; 0: none
    window_end: Mapped[int] = mapped_column(BigInteger, index=True)
    used: Mapped[int] = mapped_column(BigInteger)
    reserved: Mapped[int] = mapped_column(BigInteger)


class UsageReservation(Base):
    """What one call in flight reserved: released (and its usage settled) when the call ends, or by any
    replica's sweep once `expires_at` passed (the call's process was killed)."""

    __tablename__ = "usage_reservations"

    reservation_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64))
    entries: Mapped[list[Any]] = mapped_column(JSON)  # [limit, subject, measure, window_start, amount, field]
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class PolicyVersion(Base):
    """A policy version that served (`gateway.policy.versions`): its Rego modules and data by content hash, and
    when it was first and last put in force, so replay and `policy why` can evaluate it again."""

    __tablename__ = "policy_versions"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    modules: Mapped[dict[str, str]] = mapped_column(JSON)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_served: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_served: Mapped[datetime] = mapped_column(DateTime(timezone=True))
