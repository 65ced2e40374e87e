"""The MCP side of one gateway app: the upstream connections, the tool catalog and the 2025-11-25 sessions.

Built in the app's lifespan (`McpHub.build`), closed with it; stdio servers are launched at start.

    >>> hub = McpHub.build(settings, db, audit)  # doctest: +SKIP
    >>> hub.start()  # doctest: +SKIP
    >>> entries = await hub.catalog.tools("bank")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from typing import Any

from gateway.audit.records import AuditLog
from gateway.errors import RouteNotFound
from gateway.mcp.catalog import Catalog
from gateway.mcp.pins import PinStore
from gateway.mcp.upstream import Upstream
from gateway.settings import Settings
from gateway.store.db import Database

MAX_SESSIONS = 10_000  # the oldest go first: a client that lost its session re-initializes


@dataclass(frozen=True)
class Session:
    """A 2025-11-25 session: bound to the agent key and the server it was opened with."""

    session_id: str
    server: str
    key_id: str
    protocol_version: str


@dataclass
class McpHub:
    upstreams: dict[str, Upstream]
    catalog: Catalog
    sessions: dict[str, Session] = field(default_factory=dict)
    # what a tools/call carries besides its name and arguments (input_required answers), by call id
    extras: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, db: Database, audit: AuditLog) -> McpHub:
        upstreams = {name: Upstream(name, config) for name, config in settings.mcp_servers.items()}
        return cls(upstreams, Catalog(upstreams, PinStore(db), audit))

    def start(self) -> None:
        for upstream in self.upstreams.values():
            upstream.start()

    async def aclose(self) -> None:
        await asyncio.gather(*(u.aclose() for u in self.upstreams.values()))

    def upstream(self, server: str) -> Upstream:
        try:
            return self.upstreams[server]
        except KeyError:
            known = ", ".join(sorted(self.upstreams)) or "none"
            raise RouteNotFound(f"no MCP server '{server}' on this gateway (servers: {known})") from None

    def open_session(self, server: str, key_id: str, protocol_version: str) -> Session:
        while len(self.sessions) >= MAX_SESSIONS:
            self.sessions.pop(next(iter(self.sessions)))
        session = Session(secrets.token_urlsafe(24), server, key_id, protocol_version)
        self.sessions[session.session_id] = session
        return session
