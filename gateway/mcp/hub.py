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

from itsdangerous import BadSignature, URLSafeSerializer

from gateway.approvals.cipher import PayloadCipher
from gateway.audit.records import AuditLog
from gateway.clock import SYSTEM_CLOCK, Clock
from gateway.errors import RouteNotFound
from gateway.mcp.catalog import Catalog
from gateway.mcp.pins import PinStore
from gateway.mcp.upstream import Upstream
from gateway.settings import Settings
from gateway.store.db import Database

SALT = "gateway.mcp-session"
MAX_ENDED = 10_000  # session ids a client ended (DELETE) that this worker still refuses; the oldest go first


@dataclass(frozen=True)
class Session:
    """A 2025-11-25 session: bound to the agent key and the server it was opened with."""

    session_id: str
    server: str
    key_id: str
    protocol_version: str


@dataclass
class McpHub:
    """A 2025-11-25 session id is the session itself, signed (server, agent key, protocol version and a nonce):
    any worker or replica that shares the approvals key accepts it, and nothing is kept per session. A session
    a client ends (DELETE) is refused by the worker that ended it; another worker may accept it until it
    restarts, for the same agent key only."""

    upstreams: dict[str, Upstream]
    catalog: Catalog
    signer: URLSafeSerializer
    ended: dict[str, None] = field(default_factory=dict)  # an ordered set
    # what a tools/call carries besides its name and arguments (input_required answers), by call id
    extras: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, db: Database, audit: AuditLog, clock: Clock = SYSTEM_CLOCK) -> McpHub:
        upstreams = {name: Upstream(name, config) for name, config in settings.mcp_servers.items()}
        # sessions are signed with the approvals key (shared by replicas); without MCP servers there are none
        secret = PayloadCipher.from_settings(settings).session_secret if upstreams else secrets.token_hex(32)
        return cls(
            upstreams, Catalog(upstreams, PinStore(db, clock), audit, clock), URLSafeSerializer(secret, salt=SALT)
        )

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
        token = self.signer.dumps([server, key_id, protocol_version, secrets.token_urlsafe(12)])
        return Session(str(token), server, key_id, protocol_version)

    def session(self, session_id: str) -> Session | None:
        """The session an id names, if this gateway signed it and it was not ended here."""
        if not session_id or session_id in self.ended:
            return None
        try:
            server, key_id, version, _ = self.signer.loads(session_id)
        except (BadSignature, ValueError, TypeError):
            return None
        return Session(session_id, str(server), str(key_id), str(version))

    def end(self, session_id: str) -> None:
        while len(self.ended) >= MAX_ENDED:
            self.ended.pop(next(iter(self.ended)))
        self.ended[session_id] = None
