"""What each upstream server offers, checked against the pins: the tools agents may see and call.

Each listing from upstream is reconciled with the `mcp_tool_pins` table. A tool is **offered** only when
its definition is the approved one and its name is its own:

    approved    the definition hashes to the approved pin                      offered
    pending     never approved (pin: manual), waiting for `gateway tools approve`  withheld
    changed     differs from the approved pin (a rug pull, or an update)       withheld, calls refused
    shadowing   another server had a tool of this name approved first          withheld, calls refused
    duplicate   the server lists the name twice                                withheld, calls refused

Whatever is news (a tool seen for the first time, a new definition) is written to the audit log at once,
with the diff against the approved definition, and logged as a warning when withheld.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.audit.events import AuditEvent
from gateway.audit.records import AuditLog
from gateway.clock import SYSTEM_CLOCK, Clock
from gateway.mcp.pins import Pin, PinStore, definition
from gateway.mcp.scan import scan_definition
from gateway.mcp.upstream import Upstream
from gateway.model import new_id

State = Literal["approved", "pending", "changed", "shadowing", "duplicate"]
CACHE_S = 5.0  # a call's check reuses a listing this fresh; tools/list always asks upstream

log = logging.getLogger("gateway.mcp")


@dataclass(frozen=True)
class ToolEntry:
    server: str
    tool: dict[str, Any]  # as the server lists it (wire JSON)
    state: State
    findings: list[dict[str, Any]] = field(default_factory=list)  # `gateway.mcp.scan` on the definition
    changes: dict[str, Any] = field(default_factory=dict)  # changed: field -> {approved, now}

    @property
    def name(self) -> str:
        return str(self.tool["name"])

    @property
    def offered(self) -> bool:
        return self.state == "approved"

    def refusal(self) -> str:
        """Why calls to this tool are refused (what the agent and the audit log are told)."""
        where = f"tool '{self.name}' of MCP server '{self.server}'"
        if self.state == "pending":
            return f"{where} is not approved yet (gateway tools approve {self.server} {self.name})"
        if self.state == "changed":
            fields = ", ".join(sorted(self.changes)) or "definition"
            return f"{where} changed since it was approved ({fields}); an operator must approve it again"
        if self.state == "shadowing":
            return f"{where} has the name of another server's tool; names cannot be shadowed"
        return f"{where} is listed more than once by its server"


class Catalog:
    def __init__(
        self, upstreams: dict[str, Upstream], pins: PinStore, audit: AuditLog, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.clock = clock
        self.upstreams, self.pins, self.audit = upstreams, pins, audit
        self._cache: dict[str, tuple[float, dict[str, ToolEntry]]] = {}

    async def tools(self, server: str, fresh: bool = True) -> dict[str, ToolEntry]:
        """The server's tools by name, reconciled with the pins (from a recent listing unless `fresh`)."""
        cached = self._cache.get(server)
        if not fresh and cached is not None and self.clock.monotonic() - cached[0] < CACHE_S:
            return cached[1]
        upstream = self.upstreams[server]
        listed = await upstream.list_tools()
        counts = Counter(str(t.get("name")) for t in listed)
        entries: dict[str, ToolEntry] = {}
        for tool in listed:
            pin, news = await self.pins.observe(server, tool, auto=upstream.config.pin == "auto")
            entry = await self._entry(server, tool, pin, counts[pin.tool] > 1)
            entries.setdefault(entry.name, entry)
            if news or entry.state in ("shadowing", "duplicate") and cached is None:
                await self._announce(entry)
        self._cache[server] = (self.clock.monotonic(), entries)
        return entries

    async def _entry(self, server: str, tool: dict[str, Any], pin: Pin, duplicate: bool) -> ToolEntry:
        state: State = pin.state
        if duplicate:
            state = "duplicate"
        elif state == "approved":
            owners = await self.pins.owners(pin.tool)
            if owners and owners[0] != server:
                state = "shadowing"
        return ToolEntry(server, tool, state, scan_definition(definition(tool)), pin.changes)

    async def _announce(self, entry: ToolEntry) -> None:
        """An audit event for what is new about a tool (never its arguments: there are none yet)."""
        reasons = [entry.refusal()] if not entry.offered else [f"tool '{entry.name}' pinned"]
        if not entry.offered:
            log.warning("mcp: %s", reasons[0])
        detail = {"state": entry.state, "changes": entry.changes, "findings": entry.findings}
        event = AuditEvent(
            decision_id=new_id(),
            call_id=new_id(),
            request_id=new_id(),
            surface="mcp",
            kind="tool",
            target=entry.name,
            provider=entry.server,
            allow=entry.offered,
            reasons=reasons,
            error_code=None if entry.offered else f"tool_{entry.state}",
            detail=json.dumps(detail, sort_keys=True, ensure_ascii=False)[:8000],
            actor="gateway",
        )
        await self.audit.write([event.row()])
