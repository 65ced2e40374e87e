"""Audit bundles: a stretch of the log that an auditor can check offline, on another machine.

    DIR/events.jsonl        the events, seq `first_seq` to `end_seq - 1`, in order (with seq and leaf_hash)
    DIR/checkpoints.jsonl   the signed checkpoints in that stretch ({"note", "frontier"}); the last one at end_seq
    DIR/public-key.txt      the gateway's verifier key (pin your own copy with --public-key)
    DIR/manifest.json       format, origin, filters asked for, the stretch, the start frontier, file SHA-256s

A bundle is contiguous (a time range widened to whole sequence numbers, up to the next checkpoint) because
only a contiguous stretch can be recomputed into the signed tree: `start_frontier` is the tree before
`first_seq` (unsigned, but any change to it or to an event changes the root the last checkpoint signs).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from gateway.audit.export import Rows
from gateway.audit.merkle import Frontier
from gateway.audit.records import AuditLog, Filters
from gateway.audit.signing import BadCheckpoint, Verifier
from gateway.audit.verify import LogCheck, Report, StoredCheckpoint, signed_checkpoints
from gateway.store.db import Database
from gateway.store.tables import AuditCheckpoint, AuditEventRow

FORMAT = "gateway-audit-bundle/1"
FILES = ("events.jsonl", "checkpoints.jsonl", "public-key.txt")


class BundleError(Exception):
    """A bundle cannot be written (nothing signed covers the stretch yet) or read."""


@dataclass(frozen=True)
class Stretch:
    first: int  # the first seq in the bundle
    end: int  # one past the last: the size of the checkpoint that closes it


async def stretch_for(db: Database, filters: Filters) -> Stretch:
    """The contiguous stretch that holds every event `filters` (a time range) selects, up to a checkpoint."""
    query = filters.apply(select(func.min(AuditEventRow.seq), func.max(AuditEventRow.seq)))
    async with db.engine.connect() as conn:
        low, high = (await conn.execute(query)).one()
        if low is None:
            raise BundleError("no events in that range")
        end = (
            await conn.execute(select(func.min(AuditCheckpoint.tree_size)).where(AuditCheckpoint.tree_size > high))
        ).scalar()
    if end is None:
        raise BundleError(
            f"no checkpoint covers event seq {high} yet: wait for the next (or `gateway audit checkpoint`)"
        )
    return Stretch(int(low), int(end))


async def frontier_at(db: Database, size: int) -> Frontier:
    """The tree of the first `size` events: from the nearest checkpoint at or below, plus stored leaf hashes."""
    async with db.engine.connect() as conn:
        start = (
            await conn.execute(
                select(AuditCheckpoint.tree_size, AuditCheckpoint.frontier)
                .where(AuditCheckpoint.tree_size <= size)
                .order_by(AuditCheckpoint.tree_size.desc())
                .limit(1)
            )
        ).first()
        frontier = Frontier.from_hex(start.tree_size, start.frontier) if start else Frontier()
        query = select(AuditEventRow.leaf_hash).where(AuditEventRow.seq >= frontier.size, AuditEventRow.seq < size)
        result = await conn.stream(query.order_by(AuditEventRow.seq).execution_options(yield_per=5000))
        async for (leaf,) in result:
            frontier.append(bytes.fromhex(leaf or ""))
    if frontier.size != size:
        raise BundleError(f"events before seq {size} are missing: cannot rebuild the tree there")
    return frontier


async def write_bundle(
    db: Database,
    directory: Path,
    stretch: Stretch,
    verifier: Verifier,
    asked: dict[str, Any],
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write the bundle of `stretch` into `directory` (created); returns the manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    start = await frontier_at(db, stretch.first)
    rows, count = Rows("jsonl"), 0
    with (directory / "events.jsonl").open("w", encoding="utf-8") as out:
        where = (AuditEventRow.seq >= stretch.first) & (AuditEventRow.seq < stretch.end)
        async for event in AuditLog(db).read(filters=Filters(), where=where):
            out.write(rows.line(event))
            count += 1
            if progress:
                progress(1)
    async with db.engine.connect() as conn:
        checkpoints = await conn.execute(
            select(AuditCheckpoint.note, AuditCheckpoint.frontier)
            .where(AuditCheckpoint.tree_size > stretch.first, AuditCheckpoint.tree_size <= stretch.end)
            .order_by(AuditCheckpoint.tree_size)
        )
        with (directory / "checkpoints.jsonl").open("w", encoding="utf-8") as out:
            for note, frontier in checkpoints:
                out.write(json.dumps({"note": note, "frontier": frontier}) + "\n")
    (directory / "public-key.txt").write_text(verifier.vkey() + "\n")
    manifest = {
        "format": FORMAT,
        "origin": verifier.name,
        "created": datetime.now(UTC).isoformat(),
        "filters": asked,
        "first_seq": stretch.first,
        "end_seq": stretch.end,
        "events": count,
        "start_frontier": start.hex(),
        "files": {name: _sha256(directory / name) for name in FILES},
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_bundle(directory: Path, verifier: Verifier | None = None) -> Report:
    """Check a bundle offline: file hashes, checkpoint signatures, every event against the signed tree.
    `verifier` is the key you trust; without one, the bundle's own key is used (which proves less)."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
        if manifest.get("format") != FORMAT:
            return Report(problem=f"{directory}/manifest.json is not a {FORMAT} manifest")
        for name in FILES:
            if _sha256(directory / name) != manifest["files"][name]:
                return Report(problem=f"{name} does not match the manifest's SHA-256: the file was changed")
        verifier = verifier or Verifier.parse((directory / "public-key.txt").read_text())
        with (directory / "checkpoints.jsonl").open(encoding="utf-8") as handle:
            stored = [StoredCheckpoint(**json.loads(line)) for line in handle if line.strip()]
        checkpoints = signed_checkpoints(stored, verifier)
        base = Frontier.from_hex(int(manifest["first_seq"]), manifest["start_frontier"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Report(problem=f"cannot read the bundle: {exc}")
    except BadCheckpoint as exc:
        return Report(problem=str(exc))
    return _check_events(directory, manifest, LogCheck(checkpoints, base=base))


def _check_events(directory: Path, manifest: dict[str, Any], check: LogCheck) -> Report:
    with (directory / "events.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip() and not check.add(json.loads(line)):
                return check.finish()
    report = check.finish()
    end = report.first_seq + report.events if report.first_seq is not None else None
    if report.ok and (end != manifest["end_seq"] or report.signed != manifest["end_seq"]):
        report.problem = f"the bundle should hold seq {manifest['first_seq']} to {manifest['end_seq'] - 1}, signed"
    return report
