"""Retention: archive the events older than the retention period to a bundle, then delete them.

The cut is made at a checkpoint, so the log that remains still verifies: it starts from that checkpoint's
frontier (kept in the store, and signed, with every checkpoint). Only events older than the cut-off are
removed; an older event that sits after a newer one in the log waits for the next run.

The EU AI Act (Art. 19 and 26(6)) asks providers and deployers of high-risk AI systems to keep the logs such
a system generates automatically for at least six months (unless other law says otherwise): `gateway audit
prune` warns when asked to keep less than 183 days.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, select

from gateway.audit.bundle import BundleError, Stretch, verify_bundle, write_bundle
from gateway.audit.signing import Verifier
from gateway.store.db import Database
from gateway.store.tables import AuditCheckpoint, AuditEventRow

SIX_MONTHS_DAYS = 183


async def cut(db: Database, days: int, now: datetime | None = None) -> Stretch | None:
    """The stretch to archive: from the log's start to the last checkpoint before any event newer than
    `days` days (None if there is nothing to remove)."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    async with db.engine.connect() as conn:
        first = (await conn.execute(select(func.min(AuditEventRow.seq)))).scalar()
        recent = (await conn.execute(select(func.min(AuditEventRow.seq)).where(AuditEventRow.ts >= cutoff))).scalar()
        limit = recent if recent is not None else (await conn.execute(select(func.max(AuditEventRow.seq)))).scalar()
        if first is None or limit is None:
            return None
        if recent is None:
            limit += 1  # every event is old: up to the last checkpoint there is
        end = (
            await conn.execute(select(func.max(AuditCheckpoint.tree_size)).where(AuditCheckpoint.tree_size <= limit))
        ).scalar()
    return Stretch(int(first), int(end)) if end is not None and end > first else None


async def prune(db: Database, days: int, archive: Path, verifier: Verifier) -> str:
    """Archive, check the archive, then delete what it holds. Returns what was done, for the operator."""
    stretch = await cut(db, days)
    if stretch is None:
        return f"nothing to prune: no checkpointed events older than {days} days"
    directory = archive / f"audit-{stretch.first}-{stretch.end - 1}"
    await write_bundle(db, directory, stretch, verifier, {"older_than_days": days})
    report = verify_bundle(directory, verifier)
    if not report.ok:  # never delete what the archive does not hold intact
        raise BundleError(f"the archive {directory} does not verify, nothing deleted: {report.problem}")
    async with db.engine.begin() as conn:
        await conn.execute(delete(AuditEventRow).where(AuditEventRow.seq < stretch.end))
    return f"archived seq {stretch.first} to {stretch.end - 1} to {directory} and removed them from the store"
