"""The values that flow through the pipeline: who calls, what they ask, what policy decided."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from connectors.base import ChatRequest, EmbeddingRequest, ToolCall

Phase = Literal["request", "response"]


def new_id() -> str:
    """A fresh id: 128 random bits as 32 hex digits (what `uuid4().hex` gave, at a quarter of its cost)."""
    return os.urandom(16).hex()


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# bounds of what an agent names (they go into the policy input and the audit table's columns)
MAX_REQUEST_ID = 64
MAX_END_USER = 200
MAX_NAME = 200  # models and tools
MAX_SESSION = 200  # X-Gateway-Session


def identifier_problem(value: str, limit: int, printable: bool = False) -> str | None:
    """Why `value` cannot name a model, tool, user or request (None: it can): over `limit` characters, or
    holding a control character (C0, DEL) or a lone surrogate; `printable`: printable ASCII only.

    >>> identifier_problem("alice\\x00mallory", 200)
    'holds a control character (U+0000)'
    """
    if len(value) > limit:
        return f"is longer than {limit} characters ({len(value)})"
    if printable and not (value.isascii() and value.isprintable()):
        return "must be printable ASCII"
    found = _CONTROL.search(value)
    return f"holds a control character (U+{ord(found.group()):04X})" if found else None


class Principal(BaseModel):
    """The authenticated caller: an agent (with its team and key), and the end user it acts for."""

    model_config = ConfigDict(frozen=True)

    agent: str
    team: str | None = None
    key_id: str
    labels: dict[str, str] = Field(default_factory=dict)
    end_user: str | None = None


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a call came from: its surface, ids and the end user the agent named in a header. Never secret."""

    surface: str
    request_id: str = field(default_factory=new_id)
    end_user: str | None = None
    call_id: str = field(default_factory=new_id)
    started: float = field(default_factory=time.time)
    approval_id: str | None = None  # X-Gateway-Approval: the receipt of an approved hold, redeemed by this call
    respond_async: bool = False  # Prefer: respond-async: a held call answers 202 at once instead of waiting
    invalid: tuple[str, str] | None = None  # (message, param): a header the parse stage refuses the call for
    session: tuple[str, str] | None = None  # (named by: header, mcp, a2a, responses; key): gateway.sessions


class ModelPayload(BaseModel):
    """A call to a model: `chat` (`/v1/chat/completions`, `/v1/messages`), `responses` (`/v1/responses`) or
    `count_tokens` (`/v1/messages/count_tokens`: the conversation is sent, to be counted, not answered)."""

    kind: Literal["model"] = "model"
    request: ChatRequest
    api: Literal["chat", "responses", "count_tokens"] = "chat"

    @property
    def target(self) -> str:
        return self.request.model

    @property
    def operation(self) -> str:
        return self.api


class EmbeddingsPayload(BaseModel):
    """An embeddings call (`/v1/embeddings`)."""

    kind: Literal["embeddings"] = "embeddings"
    request: EmbeddingRequest

    @property
    def target(self) -> str:
        return self.request.model

    @property
    def operation(self) -> str:
        return "embeddings"


class ToolPayload(BaseModel):
    """A call of one tool on a tool server (MCP `tools/call`): the target is the tool."""

    kind: Literal["tool"] = "tool"
    server: str
    call: ToolCall
    operation: str = "tools/call"

    @property
    def target(self) -> str:
        return self.call.name


class AgentPayload(BaseModel):
    """A message to another agent (A2A `message/send`, or a plain HTTP agent): the target is that agent."""

    kind: Literal["agent"] = "agent"
    agent: str
    operation: str = "message/send"
    text: str = ""

    @property
    def target(self) -> str:
        return self.agent


class ReadPayload(BaseModel):
    """A read of what the gateway keeps or serves itself, no provider asked: a kept Response (`responses.get`,
    `responses.input_items`, `responses.delete`, `responses.cancel`), an agent's card (`agent.card`), a held call's
    status (`approvals.get`). The target is the response id, the agent or the approval id; `params` the read's
    options (a page of items, ...)."""

    kind: Literal["read"] = "read"
    operation: str
    name: str
    params: dict[str, str] = Field(default_factory=dict)

    @property
    def target(self) -> str:
        return self.name


class ListPayload(BaseModel):
    """A listing of what the agent may use, each item asked about (`gateway.listing`): the routes (`models`), an
    MCP server's tools, resources, resource templates or prompts (the MCP method). The target is `models` or the
    server; `params` the page asked for (an MCP cursor) or the one item (`id`)."""

    kind: Literal["list"] = "list"
    operation: str
    scope: str
    params: dict[str, str] = Field(default_factory=dict)

    @property
    def target(self) -> str:
        return self.scope


Payload = Annotated[
    ModelPayload | EmbeddingsPayload | ToolPayload | AgentPayload | ReadPayload | ListPayload,
    Field(discriminator="kind"),
]
Kind = Literal["model", "embeddings", "tool", "agent", "read", "list"]
Parser = Callable[[Any], ModelPayload | EmbeddingsPayload | ToolPayload | AgentPayload | ReadPayload | ListPayload]


@dataclass(frozen=True)
class Inbound:
    """What a surface hands the pipeline before anything is trusted: the presented key, the raw body and the
    surface's parser for it. The authenticate stage drops the key; the parse stage drops the body."""

    origin: Origin
    api_key: SecretStr | None
    body: Any
    parse: Parser


# the A2A operations whose answer is a stream of events, relayed as they come (both protocol revisions)
AGENT_STREAMS = frozenset({"SendStreamingMessage", "SubscribeToTask", "message/stream", "tasks/resubscribe"})


class Call(BaseModel):
    """The normalized request of an authenticated principal: a typed payload per kind.

    >>> call = Call(surface="openai", principal=p, request_id="r1", payload=ModelPayload(request=req))  # doctest: +SKIP
    >>> (call.kind, call.target, call.operation)  # doctest: +SKIP
    ('model', 'gpt-4o-mini', 'chat')
    """

    surface: str
    principal: Principal
    request_id: str
    payload: Payload

    @property
    def kind(self) -> Kind:
        return self.payload.kind

    @property
    def target(self) -> str:
        return self.payload.target

    @property
    def operation(self) -> str:
        return self.payload.operation

    @property
    def stream(self) -> bool:
        """Whether the answer goes back as it comes: a streamed model call, an agent's stream."""
        if isinstance(self.payload, ModelPayload):
            return self.payload.request.stream
        return self.kind == "agent" and self.operation in AGENT_STREAMS


class HoldRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str
    approvers: str | None = None


RedactionMode = Literal["mask", "replace", "hash", "pseudonymize"]


class PolicyDocument(BaseModel):
    """The document at `data.gateway.decision`; the first five fields must be present (anything missing
    denies); `redact_modes` may override the configured redaction mode per entity type; `hosted_tools` names the
    hosted tools a Responses call may offer (missing: none)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    allow: bool
    reasons: list[str]
    hold: HoldRequest | None
    redact: list[str]
    route: str | None
    redact_modes: dict[str, RedactionMode] = Field(default_factory=dict)
    hosted_tools: list[str] = Field(default_factory=list)  # hosted tools (Responses API) allowed by name; [] none
    # what happens to a hosted tool the call offers that `hosted_tools` does not name: removed from the call (the
    # model never sees it; the audit says which), or the whole call denied
    hosted_unallowed: Literal["remove", "deny"] = "remove"
    # request phase: the types to take out of what comes back (answer text, tool call arguments, thinking) as it
    # streams, but for values the caller itself sent; [] none (the types of `redact` are taken out anyway)
    redact_output: list[str] = Field(default_factory=list)


class Decision(BaseModel):
    """A policy decision, as enforced, with the id that goes into the response header and the audit log."""

    decision_id: str = Field(default_factory=new_id)
    phase: Phase
    allow: bool
    reasons: list[str] = Field(default_factory=list)
    hold: HoldRequest | None = None
    redact: list[str] = Field(default_factory=list)
    redact_modes: dict[str, RedactionMode] = Field(default_factory=dict)
    route: str | None = None
    hosted_tools: list[str] = Field(default_factory=list)
    hosted_unallowed: Literal["remove", "deny"] = "remove"
    redact_output: list[str] = Field(default_factory=list)
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


class Attempt(BaseModel):
    provider: str
    model: str
    status: int | None = None
    error: str | None = None


def request_id(sent: str | None) -> str:
    """The agent's `X-Request-ID` when it is at most 64 printable characters; otherwise a generated one (the
    answer's `x-request-id` says which), so a hostile id can neither fail the audit insert nor forge log lines."""
    if sent and identifier_problem(sent, MAX_REQUEST_ID, printable=True) is None:
        return sent
    return new_id()
