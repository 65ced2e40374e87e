"""Inclusion proofs: one event, shown to be in the signed log without handing over the log.

A proof is a JSON document:

    {"format": "gateway-audit-proof/1",
     "event": {...the exported event, with seq and leaf_hash...},
     "leaf_index": 41, "tree_size": 1024,
     "audit_path": ["base64 hash", ...],          RFC 6962 PATH(leaf_index, D[tree_size])
     "checkpoint": "origin\\n1024\\nroot\\n\\n— origin sig\\n"}

Checking it needs only the proof and the gateway's public key: recompute the leaf from the event, walk the
path to a root (RFC 9162 section 2.1.3.2), and compare with the root the checkpoint signs.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import select

from gateway.audit.leaf import event_leaf
from gateway.audit.merkle import Frontier, PathBuilder, root_from_path
from gateway.audit.records import AuditLog, Filters
from gateway.audit.signing import BadCheckpoint, Checkpoint, Verifier
from gateway.store.db import Database
from gateway.store.tables import AuditCheckpoint, AuditEventRow

FORMAT = "gateway-audit-proof/1"


class ProofError(Exception):
    """No proof can be made (unknown event, no checkpoint covers it yet), or a proof does not check."""


async def prove(db: Database, decision_id: str) -> dict[str, Any]:
    """The inclusion proof of the event `decision_id` under the latest checkpoint."""
    log = AuditLog(db)
    event = await _event(log, decision_id)
    seq = event["seq"]
    async with db.engine.connect() as conn:
        latest = (
            await conn.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1))
        ).first()
        first = (await conn.execute(select(AuditEventRow.seq).order_by(AuditEventRow.seq).limit(1))).scalar()
        base = None
        if first:  # older events were pruned: start from the checkpoint where the log now begins
            start = (await conn.execute(select(AuditCheckpoint).where(AuditCheckpoint.tree_size == first))).first()
            if start is None:
                raise ProofError(f"events before seq {first} are gone and no checkpoint starts the log there")
            base = Frontier.from_hex(first, start.frontier)
    if latest is None or latest.tree_size <= seq:
        raise ProofError(f"no checkpoint covers event seq {seq} yet; try again after the next checkpoint")
    builder = PathBuilder(seq, latest.tree_size, base)
    async for leaf in _leaves(db, base.size if base else 0, latest.tree_size):
        builder.add(leaf)
    path = builder.path()
    return {
        "format": FORMAT,
        "event": event,
        "leaf_index": seq,
        "tree_size": latest.tree_size,
        "audit_path": [base64.b64encode(h).decode() for h in path],
        "checkpoint": latest.note,
    }


async def _event(log: AuditLog, decision_id: str) -> dict[str, Any]:
    found = [event async for event in log.read(filters=Filters(), where=AuditEventRow.decision_id == decision_id)]
    if not found:
        raise ProofError(f"no audit event has decision id {decision_id}")
    if found[0]["seq"] is None:
        raise ProofError(f"event {decision_id} has no place in the log (inserted outside the gateway)")
    return found[0]


async def _leaves(db: Database, start: int, end: int) -> AsyncIterator[bytes]:
    """The stored leaf hashes of seq `start` to `end - 1`, streamed."""
    query = select(AuditEventRow.leaf_hash).where(AuditEventRow.seq >= start, AuditEventRow.seq < end)
    async with db.engine.connect() as conn:
        result = await conn.stream(query.order_by(AuditEventRow.seq).execution_options(yield_per=5000))
        async for (leaf,) in result:
            yield bytes.fromhex(leaf or "")  # a missing hash makes a path that fails to check, as it should


def check_proof(proof: dict[str, Any], verifier: Verifier) -> Checkpoint:
    """The checkpoint the proof's event is included under; ProofError if it is not."""
    if proof.get("format") != FORMAT:
        raise ProofError(f"not a {FORMAT} document")
    try:
        checkpoint = Checkpoint.parse(proof["checkpoint"], verifier)
        path = [base64.b64decode(h, validate=True) for h in proof["audit_path"]]
        index, size, event = int(proof["leaf_index"]), int(proof["tree_size"]), proof["event"]
    except BadCheckpoint as exc:
        raise ProofError(f"the checkpoint does not verify: {exc}") from exc
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise ProofError(f"malformed proof: {exc}") from exc
    if size != checkpoint.size or event.get("seq") != index:
        raise ProofError("the proof's tree size or leaf index disagrees with its checkpoint or event")
    if root_from_path(index, size, event_leaf(event, index), path) != checkpoint.root:
        raise ProofError(f"event seq {index} ({event.get('decision_id')}) is not in the log the checkpoint signs")
    return checkpoint
