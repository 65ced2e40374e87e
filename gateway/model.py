"""The values that flow through the pipeline: who calls, what they ask, what policy decided."""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.base import ChatRequest, EmbeddingRequest, ToolCall

Phase = Literal["request", "response"]


def new_id() -> str:
    return uuid.uuid4().hex


class Principal(BaseModel):
    """The authenticated caller: an agent (with its team and key), and the end user it acts for."""

    model_config = ConfigDict(frozen=True)

    agent: str
    team: str | None = None
    key_id: str
    labels: dict[str, str] = Field(default_factory=dict)
    end_user: str | None = None


class Inbound(BaseModel):
    """What a surface hands the pipeline before anything is trusted: the presented key and the raw body."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    surface: Literal["openai", "anthropic"]
    api_key: str | None
    body: Any
    request_id: str = Field(default_factory=new_id)
    end_user: str | None = None


class Call(BaseModel):
    """The normalized request: a model call by an authenticated principal."""

    kind: Literal["model", "tool", "agent"] = "model"
    surface: str
    target: str
    principal: Principal
    request: ChatRequest | EmbeddingRequest
    request_id: str
    stream: bool = False


class HoldRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str
    approvers: str | None = None


class PolicyDocument(BaseModel):
    """The document at `data.gateway.decision`; every field must be present (anything missing denies)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    allow: bool
    reasons: list[str]
    hold: HoldRequest | None
    redact: list[str]
    route: str | None


class Decision(BaseModel):
    """A policy decision, as enforced, with the id that goes into the response header and the audit log."""

    decision_id: str = Field(default_factory=new_id)
    phase: Phase
    allow: bool
    reasons: list[str] = Field(default_factory=list)
    hold: HoldRequest | None = None
    redact: list[str] = Field(default_factory=list)
    route: str | None = None
    policy_version: str = ""
    error: str | None = None  # set when the engine failed and the gateway decided instead (fail closed)
    fail_open: bool = False
    latency_ms: float = 0.0

    @classmethod
    def from_document(cls, raw: Any, *, phase: Phase, policy_version: str) -> Decision:
        """Build from the engine's answer; an undefined or malformed answer is a deny with `policy_error`."""
        if raw is None:
            return cls.failed(phase, "policy_error", "policy returned no decision (undefined)", policy_version)
        try:
            doc = PolicyDocument.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "decision"
            detail = f"malformed decision: {where}: {first['msg']}"
            return cls.failed(phase, "policy_error", detail, policy_version)
        return cls(phase=phase, policy_version=policy_version, **doc.model_dump())

    @classmethod
    def failed(cls, phase: Phase, code: str, detail: str, policy_version: str = "") -> Decision:
        return cls(phase=phase, allow=False, reasons=[f"{code}: {detail}"], error=code, policy_version=policy_version)


class StageTimer:
    """Collects per-stage latency in milliseconds for the audit record."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}

    def record(self, stage: str, started: float) -> None:
        self.stages[stage] = round(self.stages.get(stage, 0.0) + (time.perf_counter() - started) * 1000, 3)


class Attempt(BaseModel):
    provider: str
    model: str
    status: int | None = None
    error: str | None = None


class Trace(BaseModel):
    """Everything the audit stage needs to know about one call, filled in as the stages run."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    inbound: Inbound
    call_id: str = Field(default_factory=new_id)
    started: float = Field(default_factory=time.time)
    principal: Principal | None = None
    call: Call | None = None
    decisions: list[Decision] = Field(default_factory=list)
    attempts: list[Attempt] = Field(default_factory=list)
    provider: str | None = None
    upstream_model: str | None = None
    upstream_status: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    error: str | None = None
    error_code: str | None = None
    timer: StageTimer = Field(default_factory=StageTimer)

    def last_decision_id(self) -> str | None:
        return self.decisions[-1].decision_id if self.decisions else None
