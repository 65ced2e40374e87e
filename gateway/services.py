"""The long-lived services the stages need, built once in the app's lifespan and passed in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from connectors import registry
from connectors.base import Connector
from connectors.http import HttpClient
from gateway.approvals.notifier import WebhookNotifier
from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.reviewers import ReviewerStore
from gateway.audit.records import AuditLog
from gateway.enforcement import Capabilities
from gateway.metrics import Metrics
from gateway.pii.service import PiiService
from gateway.policy.engine import PolicyEngine
from gateway.settings import RouteTarget, Settings
from gateway.store.db import Database
from gateway.store.keys import KeyStore
from gateway.tracing import Tracing

if TYPE_CHECKING:
    from gateway.a2a.upstream import AgentHub
    from gateway.mcp.hub import McpHub
    from gateway.sessions.store import SessionStore


@dataclass
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
    sessions: SessionStore | None = None  # per-session memory, input.session (None: sessions.enabled is false)
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

    async def aclose(self) -> None:
        if self.notifier is not None:
            await self.notifier.aclose()
        if self.mcp is not None:
            await self.mcp.aclose()
        if self.approvals is not None:
            await self.approvals.aclose()
        await self.audit.aclose()
        await self.http.close()
        await self.policy.aclose()
        await self.db.aclose()
        self.tracing.shutdown()
