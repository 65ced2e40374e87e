"""`policy why` for one recorded decision: its kept input, evaluated again by the version that decided (kept in
`policy_versions`, or the one serving now if that is the same), traced (`gateway.policy.why`). Shared by the CLI
and `GET /admin/api/decisions/{id}/why`."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from gateway.errors import ConfigError
from gateway.policy.source import PolicySource, load_source
from gateway.policy.versions import PolicyVersions
from gateway.policy.why import explain
from gateway.settings import Settings
from gateway.store.db import Database
from gateway.store.tables import AuditEventRow


class UnknownDecision(ConfigError):
    """No decision by that id, or one whose input was not kept (recorded before inputs were)."""


async def decision_event(db: Database, settings: Settings, decision_id: str) -> dict[str, Any]:
    """The decision `decision_id` explained: who, what, the version, the answer now and the rules that fired."""
    t = AuditEventRow
    columns = (t.decision_id, t.event, t.phase, t.agent, t.target, t.policy_version, t.policy)
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(*columns).where(t.decision_id == decision_id))).first()
    if row is None or row.event not in ("decision", "shadow"):
        raise UnknownDecision(f"no decision with id {decision_id!r} in the audit log")
    if row.policy is None:
        raise UnknownDecision(f"decision {decision_id} kept no policy input (it was recorded before inputs were)")
    source = await _version(db, settings, row.policy_version or "")
    explained = await asyncio.to_thread(explain, source, row.policy["input"])  # compiling takes a while
    recorded = row.policy.get("decision") or {}
    same = {k: explained.answer.get(k) for k in recorded} == recorded
    return {
        "decision_id": row.decision_id,
        "phase": row.phase,
        "agent": row.agent,
        "target": row.target,
        "policy_version": source.version,
        "recorded": recorded,
        "same": same,
        **explained.document(),
    }


async def _version(db: Database, settings: Settings, version: str) -> PolicySource:
    kept = await PolicyVersions(db).get(version)
    if kept is not None:
        return kept.source()
    try:
        current = load_source(settings.policy.dir)
    except ConfigError:
        current = None
    if current is not None and current.version == version:
        return current
    raise UnknownDecision(f"policy version {version!r} is not kept, and is not the one in {settings.policy.dir}")
