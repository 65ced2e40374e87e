"""Signed checkpoints kept outside the database, as they are signed (`audit.anchors`): whoever can write to the
store can delete the newest events together with the checkpoints that cover them, and nothing in the store
remembers how long the log was; an anchor does.

- `dir`: an append-only file per log (`<origin>.checkpoints.jsonl`, one JSON line per checkpoint: the note and
  any witness cosignatures), fsynced; put it on another volume or a mounted object store.
- `witnesses`: C2SP tlog-witness servers (`gateway.audit.witness`): each gets the checkpoint with a consistency
  proof from the size it last cosigned, and answers with its cosignature, which the anchor file keeps.

`Anchoring.run` anchors the newest stored checkpoint every `every_s` seconds when there is a newer one: it
never blocks a call, failures are retried at the next tick and counted (`gateway_audit_anchor_failures_total`),
and `gateway_audit_anchored_size{anchor}` says how far each anchor holds the log. `gateway audit verify
--anchors DIR` checks the log against every checkpoint (and cosignature) the file holds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select

from gateway.audit.merkle import consistency_proof
from gateway.audit.signing import BadCheckpoint, Checkpoint, Verifier
from gateway.audit.witness import CosignerVerifier, request_body
from gateway.clock import SYSTEM_CLOCK, Clock
from gateway.metrics import Metrics
from gateway.settings import AnchorsConfig, WitnessConfig
from gateway.store.db import Database
from gateway.store.tables import AuditCheckpoint, AuditEventRow

log = logging.getLogger("gateway.audit")


def anchor_file(directory: Path, origin: str) -> Path:
    return directory / f"{re.sub(r'[^A-Za-z0-9._-]', '_', origin)}.checkpoints.jsonl"


def append_record(path: Path, record: dict[str, Any]) -> None:
    """One line added to the end of the anchor file, on disk before this returns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(record, ensure_ascii=False) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_anchors(
    path: Path,
    verifier: Verifier,
    witnesses: list[CosignerVerifier] = (),  # type: ignore[assignment]
) -> list[tuple[str, Checkpoint]]:
    """The checkpoints an anchor file holds, each signature verified (and each witness given has cosigned
    it): (where, checkpoint), for `verify_store`. A line that does not verify is itself a finding."""
    out: list[tuple[str, Checkpoint]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            checkpoint = Checkpoint.parse(str(record["note"]), verifier)
        except (ValueError, KeyError, TypeError, BadCheckpoint) as exc:
            raise BadCheckpoint(f"{path.name} line {number}: not a checkpoint signed by the log's key ({exc})") from exc
        cosignatures = [str(c) for c in record.get("cosignatures") or []]
        for witness in witnesses:
            if not any(witness.cosigned(checkpoint.note, c) is not None for c in cosignatures):
                raise BadCheckpoint(f"{path.name} line {number}: no valid cosignature by the witness {witness.name}")
        out.append((f"the checkpoint anchored in {path.name} (line {number})", checkpoint))
    return out


class Anchoring:
    """Anchors the newest stored checkpoint in the directory and at each witness, as it comes."""

    def __init__(
        self, config: AnchorsConfig, db: Database, metrics: Metrics | None, origin: str, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.config, self.db, self.metrics, self.origin, self.clock = config, db, metrics, origin, clock
        self.anchored: dict[str, int] = {}  # anchor -> the size it holds
        self.witness_sizes: dict[str, int] = {}  # witness url -> the size it said it has
        self.session: aiohttp.ClientSession | None = None

    @property
    def enabled(self) -> bool:
        return self.config.dir is not None or bool(self.config.witnesses)

    async def run(self) -> None:
        while True:
            try:
                await self.once()
            except Exception:  # never let anchoring stop: the next tick tries again
                log.exception("audit: anchoring failed")
            await self.clock.sleep(self.config.every_s)

    async def once(self) -> None:
        newest = await self._newest()
        if newest is None:
            return
        size, note = newest
        cosignatures: list[str] = []
        for witness in self.config.witnesses:
            if self.anchored.get(witness.url, -1) >= size:
                continue
            line = await self._witness(witness, size, note)
            if line is not None:
                cosignatures.append(line)
                self._held(witness.url, size)
        if self.config.dir is not None and self.anchored.get("dir", -1) < size:
            try:
                record = {"size": size, "note": note, "cosignatures": cosignatures}
                await asyncio.to_thread(append_record, anchor_file(self.config.dir, self.origin), record)
                self._held("dir", size)
            except OSError as exc:
                self._failed("dir", f"the anchor directory: {exc}")

    async def _newest(self) -> tuple[int, str] | None:
        async with self.db.deadline(), self.db.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(AuditCheckpoint.tree_size, AuditCheckpoint.note)
                    .order_by(AuditCheckpoint.tree_size.desc())
                    .limit(1)
                )
            ).first()
        return (int(row.tree_size), str(row.note)) if row is not None else None

    async def _leaves(self, size: int) -> list[bytes]:
        async with self.db.deadline(), self.db.engine.connect() as conn:
            rows = await conn.execute(
                select(AuditEventRow.seq, AuditEventRow.leaf_hash)
                .where(AuditEventRow.seq < size)
                .order_by(AuditEventRow.seq)
            )
            leaves = [(int(r.seq), bytes.fromhex(r.leaf_hash)) for r in rows]
        if len(leaves) != size or (leaves and leaves[0][0] != 0):
            raise LookupError("events before the checkpoint were archived: no proof can be made from the start")
        return [leaf for _, leaf in leaves]

    async def _witness(self, witness: WitnessConfig, size: int, note: str) -> str | None:
        """Ask `witness` to cosign; its cosignature line, or None (counted, retried at the next tick)."""
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        old = self.witness_sizes.get(witness.url, 0)
        for _ in range(2):  # a 409 tells the size the witness has: one more try from there
            try:
                proof = consistency_proof(old, await self._leaves(size)) if 0 < old < size else []
                url = witness.url.rstrip("/") + "/add-checkpoint"
                async with self.session.post(url, data=request_body(old, proof, note).encode()) as resp:
                    body = await resp.text()
            except (aiohttp.ClientError, TimeoutError, LookupError, ValueError) as exc:
                self._failed(witness.url, str(exc))
                return None
            if resp.status == 409 and body.strip().isdigit():
                old = int(body.strip())
                self.witness_sizes[witness.url] = old
                continue
            if resp.status != 200:
                self._failed(witness.url, f"{resp.status} {body.strip()[:200]}")
                return None
            line = body.strip() + "\n"
            if witness.key is not None and CosignerVerifier.parse(witness.key).cosigned(note, line) is None:
                self._failed(witness.url, "its answer is not a valid cosignature by its key")
                return None
            self.witness_sizes[witness.url] = size
            return line
        self._failed(witness.url, "it keeps answering 409")
        return None

    def _held(self, anchor: str, size: int) -> None:
        self.anchored[anchor] = size
        if self.metrics:
            self.metrics.audit_anchored_size.labels(anchor).set(size)

    def _failed(self, anchor: str, why: str) -> None:
        log.warning("audit: anchoring at %s failed (retried): %s", anchor, why)
        if self.metrics:
            self.metrics.audit_anchor_failures.labels(anchor).inc()

    async def aclose(self) -> None:
        if self.session is not None:
            await self.session.close()
