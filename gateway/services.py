"""The long-lived services the stages need: built once (`gateway.app.build_services`), in the app's lifespan,
then never changed (a frozen dataclass); what must be closed is on `closing`, closed in the reverse order.
Handlers reach them one way: `gateway.adapter.services_of(request)`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from connectors import registry
from connectors.base import Connector
from connectors.http import HttpClient
from gateway.approvals.notifier import WebhookNotifier
from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.reviewers import ReviewerStore
from gateway.audit.records import AuditLog
from gateway.clock import Clock, SystemClock
from gateway.enforcement import Capabilities
from gateway.guards.screen import InjectionScreen
from gateway.limits.limiter import Limiter
from gateway.metrics import Metrics
from gateway.pii.service import PiiService
from gateway.policy.engine import PolicyEngine
from gateway.policy.shadow import Shadow
from gateway.policy.versions import PolicyVersions
from gateway.settings import RouteTarget, Settings
from gateway.store.db import Database
from gateway.store.keys import KeyStore
from gateway.tracing import Tracing

if TYPE_CHECKING:
    from connectors.base import StreamEvent
    from gateway.a2a.hub import AgentHub
    from gateway.audit.journal import Journal
    from gateway.enforcement import Plan
    from gateway.flight import Flight, Route
    from gateway.mcp.hub import McpHub
    from gateway.model import Call, Kind
    from gateway.reply import Part, Reply
    from gateway.responses.store import ResponseStore
    from gateway.sessions.store import SessionStore

    Upstream = Reply | AsyncIterator[StreamEvent]
    Router = Callable[[Call, Plan | None, Settings], Route]
    Forwarder = Callable[[Flight, "Services", Journal], Awaitable[tuple[Flight, Upstream]]]
    ResponseStage = Callable[[Flight, "Services", Journal, AsyncIterator[Part]], AsyncIterator[Part]]


@dataclass(frozen=True)
class UpstreamKind:
    """What one kind of call goes to: model providers (`connectors/`), MCP servers, other agents. How a call of
    the kind finds its route, how it is forwarded, and, where the kind needs one, a response stage of its own
    (an agent's stream is decided event by event). Registered in the services when they are built
    (`gateway.app.upstream_kinds`): the route and forward stages and the pipeline dispatch through that table,
    so they import no kind's package."""

    route: Router
    forward: Forwarder
    respond: ResponseStage | None = None  # after the common response stages, for calls of this kind only


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    keys: KeyStore
    audit: AuditLog
    policy: PolicyEngine
    http: HttpClient
    metrics: Metrics = field(default_factory=Metrics)
    capabilities: Capabilities = field(default_factory=Capabilities)  # what the gateway can enforce
    pii: PiiService | None = None  # PII inspection and redaction (None: pii.enabled is false)
    approvals: ApprovalQueue | None = None  # the approval queue (None: approvals.enabled is false)
    reviewers: ReviewerStore | None = None
    notifier: WebhookNotifier | None = None  # tells reviewers of new holds (approvals.webhook)
    tracing: Tracing = field(default_factory=Tracing.from_env)  # OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set
    mcp: McpHub | None = None  # MCP servers: upstream connections, tool catalog, sessions (mcp_servers)
    a2a: AgentHub | None = None  # other agents, A2A or plain HTTP (agents)
    shadow: Shadow | None = None  # a candidate policy beside the enforced one, never enforced (policy.shadow)
    versions: PolicyVersions | None = None  # every policy version that served, kept in the store
    limiter: Limiter | None = None  # limits on requests, tokens, money and calls in flight (limits, prices)
    sessions: SessionStore | None = None  # per-session memory, input.session (None: sessions.enabled is false)
    injection: InjectionScreen | None = None  # prompt-injection signals (None: guards.injection.enabled is false)
    kinds: Mapping[Kind, UpstreamKind] = field(default_factory=dict)  # where each kind of call goes
    clock: Clock = field(default_factory=SystemClock)  # the time that deadlines, windows and caches go by
    closing: AsyncExitStack = field(default_factory=AsyncExitStack)  # what `aclose` closes, last built first
    _connectors: dict[tuple[str, str], Connector] = field(default_factory=dict)

    def connector(self, target: RouteTarget) -> Connector:
        key = (target.provider, target.model)
        if key not in self._connectors:
            provider = self.settings.providers[target.provider]
            secret = provider.api_key()
            headers = dict(provider.headers)
            if secret and provider.api_key_header:
                headers[provider.api_key_header] = secret.get_secret_value()
                secret = None
            self._connectors[key] = registry.build(
                provider.kind,
                self.http,
                provider.base_url,
                secret.get_secret_value() if secret else None,
                target.model,
                headers,
            )
        return self._connectors[key]

    @cached_property
    def responses(self) -> ResponseStore:
        """The kept Responses (`store: true`), made on first use: it needs the approvals key, to seal them."""
        from gateway.approvals.cipher import PayloadCipher
        from gateway.responses.store import ResponseStore

        cipher = PayloadCipher.from_settings(self.settings)
        return ResponseStore(self.db, cipher, self.settings.responses.retention_s, self.clock)

    async def aclose(self) -> None:
        await self.closing.aclose()
