"""Tool definition pinning: what an operator approved is what agents get, until they approve a change.

A tool's definition is its name, description, input schema and annotations; its pin is the SHA-256 of that
definition's canonical JSON (`gateway.canonical.digest`). A server that changes a definition after it was
approved (a "rug pull") gets the new one withheld and its calls refused until `gateway tools approve`.

    >>> definition({"name": "add", "description": "Add", "inputSchema": {}, "title": "x"})
    {'name': 'add', 'description': 'Add', 'inputSchema': {}, 'annotations': None}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select

from gateway.canonical import digest
from gateway.clock import SYSTEM_CLOCK, Clock
from gateway.store.db import Database
from gateway.store.tables import McpToolPin

PINNED_FIELDS = ("name", "description", "inputSchema", "annotations")
PinState = Literal["approved", "pending", "changed"]


def definition(tool: dict[str, Any]) -> dict[str, Any]:
    """The pinned part of a tool as `tools/list` gives it (other fields, like `title`, may change freely)."""
    return {key: tool.get(key) for key in PINNED_FIELDS}


def pin_hash(tool: dict[str, Any]) -> str:
    return digest(definition(tool))


def diff(approved: dict[str, Any] | None, seen: dict[str, Any]) -> dict[str, Any]:
    """What changed, field by field: `{"description": {"approved": ..., "now": ...}, ...}`."""
    before = approved or {}
    return {
        key: {"approved": before.get(key), "now": seen.get(key)}
        for key in PINNED_FIELDS
        if digest(before.get(key)) != digest(seen.get(key))
    }


@dataclass(frozen=True)
class Pin:
    server: str
    tool: str
    state: PinState
    approved: dict[str, Any] | None
    seen: dict[str, Any]
    approved_by: str | None = None

    @property
    def changes(self) -> dict[str, Any]:
        return diff(self.approved, self.seen) if self.state == "changed" else {}


def _pin(row: McpToolPin) -> Pin:
    if row.approved_hash is None:
        state: PinState = "pending"
    else:
        state = "approved" if row.approved_hash == row.seen_hash else "changed"
    return Pin(row.server, row.tool, state, row.approved, row.seen, row.approved_by)


class PinStore:
    """The `mcp_tool_pins` table.

    >>> store = PinStore(db)  # doctest: +SKIP
    >>> await store.observe("bank", tool_dict, auto=False)  # doctest: +SKIP
    Pin(server='bank', tool='add', state='pending', ...)
    """

    def __init__(self, db: Database, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self.db = db

    async def observe(self, server: str, tool: dict[str, Any], auto: bool) -> tuple[Pin, bool]:
        """Record what the server serves now; returns the pin and whether this is news (first sight, or a
        definition different from the last one seen). `auto` pins a tool seen for the first time."""
        seen, seen_hash, now = definition(tool), pin_hash(tool), self.clock.now()
        async with self.db.sessions.begin() as session:
            row = await session.get(McpToolPin, (server, seen["name"]))
            news = row is None or row.seen_hash != seen_hash
            if row is None:
                row = McpToolPin(server=server, tool=seen["name"], seen_hash=seen_hash, seen=seen, seen_at=now)
                if auto:
                    row.approved_hash, row.approved, row.approved_by, row.approved_at = seen_hash, seen, "auto", now
                session.add(row)
            elif news:
                row.seen_hash, row.seen, row.seen_at = seen_hash, seen, now
            return _pin(row), news

    async def approve(self, server: str, tool: str | None, actor: str) -> list[Pin]:
        """Approve the definitions last seen (of one tool, or of every tool of the server)."""
        now = self.clock.now()
        async with self.db.sessions.begin() as session:
            query = select(McpToolPin).where(McpToolPin.server == server)
            if tool is not None:
                query = query.where(McpToolPin.tool == tool)
            rows = list((await session.execute(query)).scalars())
            for row in rows:
                if row.approved_hash != row.seen_hash:
                    row.approved_hash, row.approved, row.approved_by, row.approved_at = (
                        row.seen_hash,
                        row.seen,
                        actor,
                        now,
                    )
            return [_pin(row) for row in rows]

    async def pins(self, server: str | None = None) -> list[Pin]:
        async with self.db.sessions() as session:
            query = select(McpToolPin).order_by(McpToolPin.server, McpToolPin.tool)
            if server is not None:
                query = query.where(McpToolPin.server == server)
            return [_pin(row) for row in (await session.execute(query)).scalars()]

    async def owners(self, tool: str) -> list[str]:
        """The servers with an approved pin for a tool of this name (the first one owns the name)."""
        async with self.db.sessions() as session:
            query = select(McpToolPin).where(McpToolPin.tool == tool, McpToolPin.approved_hash.is_not(None))
            rows = (await session.execute(query.order_by(McpToolPin.approved_at))).scalars()
            return [row.server for row in rows]
