"""Checking the audit log: recompute every leaf and the tree, and compare with the signed checkpoints.

`LogCheck` takes the events in sequence order (from the store or from an exported bundle, so the same code
checks both) and stops at the first problem, naming the event:

    edited     the event's content no longer gives its leaf hash             seq + decision_id
    deleted    a sequence number is missing                                   the missing seq
    inserted   an event without a sequence number, or beyond the log's head   decision_id / seq
    reordered  events swapped places: their leaf hashes no longer match       seq + decision_id
    truncated  a checkpoint covers more events than are left                  the first missing seq
    cut back   the tail deleted with its checkpoints: a checkpoint kept outside the store (the head's
               signature, a saved checkpoint, an anchored one, a witness's) covers more   how many are missing
    rewritten  content and leaf hashes both changed: a checkpoint's root no longer matches, and the events
               between it and the previous checkpoint are named

Memory stays bounded: one frontier (log2 n hashes), whatever the size of the log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select

from gateway.audit import tree
from gateway.audit.leaf import event_leaf
from gateway.audit.merkle import Frontier
from gateway.audit.records import AuditLog, Filters
from gateway.audit.signing import BadCheckpoint, Checkpoint, Verifier
from gateway.errors import GatewayError
from gateway.store.db import Database
from gateway.store.tables import AuditCheckpoint, AuditEventRow


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint as kept (table row or bundle line): the signed note and the tree's frontier at its size."""

    note: str
    frontier: list[str]


@dataclass
class Report:
    """What a check found: `problem` is None when the log is intact."""

    events: int = 0
    first_seq: int | None = None
    checkpoints: list[Checkpoint] = field(default_factory=list)
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def signed(self) -> int:
        """How many events the latest checkpoint covers."""
        return max((c.size for c in self.checkpoints), default=0)

    def summary(self) -> str:
        if self.problem:
            return f"FAILED: {self.problem}"
        start = f" (from seq {self.first_seq}; earlier events archived)" if self.first_seq else ""
        unsigned = (self.first_seq or 0) + self.events - self.signed
        tail = f"; {unsigned} newer events not yet under a checkpoint" if unsigned > 0 else ""
        return (
            f"ok: {self.events} events{start}, {len(self.checkpoints)} signed checkpoints, "
            f"the latest covering {self.signed} events{tail}"
        )


def signed_checkpoints(
    stored: Iterable[StoredCheckpoint], verifier: Verifier
) -> dict[int, tuple[Checkpoint, Frontier]]:
    """Every checkpoint, its signature verified and its frontier checked against its root."""
    out: dict[int, tuple[Checkpoint, Frontier]] = {}
    for item in stored:
        checkpoint = Checkpoint.parse(item.note, verifier)
        frontier = Frontier.from_hex(checkpoint.size, item.frontier)
        if frontier.root() != checkpoint.root:
            raise BadCheckpoint(f"checkpoint at size {checkpoint.size}: its frontier does not give its root")
        out[checkpoint.size] = (checkpoint, frontier)
    return out


class LogCheck:
    """Feed events in sequence order with `add`; `finish` says whether the log is intact."""

    def __init__(
        self,
        checkpoints: Mapping[int, tuple[Checkpoint, Frontier]],
        head: int | None = None,
        base: Frontier | None = None,
        outside: Sequence[tuple[str, Checkpoint]] = (),
    ) -> None:
        self.checkpoints = checkpoints
        self.outside: dict[int, list[tuple[str, Checkpoint]]] = {}  # signed notes not from the store, by size
        for where, checkpoint in outside:
            self.outside.setdefault(checkpoint.size, []).append((where, checkpoint))
        self.head = head  # how many events the store's head row counts (None for a bundle)
        self.base = base  # a bundle's tree before its first event (unsigned: the checkpoints after it bind it)
        self.report = Report(checkpoints=sorted((c for c, _ in checkpoints.values()), key=lambda c: c.size))
        self.frontier: Frontier | None = None
        self.last_checked = 0  # the size of the last checkpoint matched

    def add(self, event: Mapping[str, Any]) -> bool:
        """Check one event; False (and `report.problem` set) at the first problem."""
        seq, decision_id = event.get("seq"), event.get("decision_id")
        if seq is None:
            return self._fail(f"event {decision_id} has no sequence number: it was inserted outside the gateway")
        if self.frontier is None and not self._start(seq):
            return False
        if self.frontier is None:
            raise GatewayError("internal check failed: self.frontier is not None")
        expected = self.frontier.size
        if seq != expected:
            return self._fail(f"event seq {expected} is missing (deleted?); the next is seq {seq} ({decision_id})")
        leaf = event_leaf(event, seq)
        if event.get("leaf_hash") != leaf.hex():
            return self._fail(
                f"event seq {seq} ({decision_id}) does not match its leaf hash: edited, or moved from another place"
            )
        self.frontier.append(leaf)
        self.report.events += 1
        return self._at_checkpoint()

    def finish(self) -> Report:
        if self.report.problem:
            return self.report
        size = self.frontier.size if self.frontier else 0
        beyond = [(where, c) for s, found in self.outside.items() if s > size for where, c in found]
        if self.report.signed > size:
            self._fail(
                f"the log ends at seq {size - 1} but a checkpoint covers {self.report.signed} events: "
                f"seq {size} to {self.report.signed - 1} were removed (truncated)"
            )
        elif self.head is not None and self.head > size:
            self._fail(
                f"the head counts {self.head} events but the log ends at seq {size - 1}: seq {size} onwards removed"
            )
        elif beyond:
            where, checkpoint = max(beyond, key=lambda item: item[1].size)
            self._fail(
                f"{where} covers {checkpoint.size} events but the log holds {size}: {checkpoint.size - size} events "
                f"are missing (seq {size} to {checkpoint.size - 1}, deleted with their checkpoints)"
            )
        elif size and not self.checkpoints:
            self._fail("no signed checkpoint: nothing shows these events are as written")
        return self.report

    def _start(self, seq: int) -> bool:
        """The tree before the first event: empty, or (events archived and pruned) a checkpoint's frontier."""
        self.report.first_seq = seq
        if seq == 0:
            self.frontier = Frontier()
            return True
        if self.base is not None and self.base.size == seq:
            self.frontier = self.base.copy()
            self.last_checked = seq
            return True
        if seq not in self.checkpoints:
            return self._fail(
                f"events before seq {seq} are missing and no checkpoint of size {seq} starts the log there"
            )
        self.frontier = self.checkpoints[seq][1].copy()
        self.last_checked = seq
        return True

    def _at_checkpoint(self) -> bool:
        if self.frontier is None:
            raise GatewayError("internal check failed: self.frontier is not None")
        for where, checkpoint in self.outside.get(self.frontier.size, []):
            if self.frontier.root() != checkpoint.root:
                return self._fail(
                    f"{where} at size {checkpoint.size} does not match the log: an event before seq "
                    f"{checkpoint.size} was changed, removed or inserted since it was signed"
                )
        found = self.checkpoints.get(self.frontier.size)
        if found is None:
            return True
        if self.frontier.root() != found[0].root:
            return self._fail(
                f"checkpoint at size {self.frontier.size} does not match: an event from seq {self.last_checked} to "
                f"{self.frontier.size - 1} was changed and its leaf hash rewritten"
            )
        self.last_checked = self.frontier.size
        return True

    def _fail(self, problem: str) -> bool:
        self.report.problem = self.report.problem or problem
        return False


async def stored_checkpoints(db: Database) -> list[StoredCheckpoint]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            select(AuditCheckpoint.note, AuditCheckpoint.frontier).order_by(AuditCheckpoint.tree_size)
        )
        return [StoredCheckpoint(row.note, list(row.frontier)) for row in rows]


async def verify_store(db: Database, verifier: Verifier, outside: Sequence[tuple[str, Checkpoint]] = ()) -> Report:
    """Check the whole log in the store, against its own checkpoints, the head's signature and any signed
    checkpoints kept outside it (`outside`: saved with `gateway audit checkpoint`, anchored, cosigned). Events
    written while it runs (beyond the head read first) are left for the next run; any event the head does not
    count at the end was inserted behind the writer's back."""
    try:
        checkpoints = signed_checkpoints(await stored_checkpoints(db), verifier)
    except BadCheckpoint as exc:
        return Report(problem=str(exc))
    async with db.engine.connect() as conn:
        head = await conn.run_sync(tree.head_size)
        head_note = await conn.run_sync(tree.head_note)
    signed_head: list[tuple[str, Checkpoint]] = []
    if head_note is not None:
        try:
            signed = Checkpoint.parse(head_note, verifier)
        except BadCheckpoint as exc:
            return Report(problem=f"the log's head is not as the gateway signed it: {exc}")
        if signed.size != head:
            return Report(problem=f"the log's head counts {head} events but its signature is for {signed.size}")
        signed_head.append(("the head's signature", signed))
    elif head > max(checkpoints, default=0):
        return Report(
            problem=f"the log's head ({head} events) is not signed: the events after the latest checkpoint "
            "are under no signature (removed, or written before heads were signed: `gateway audit checkpoint`)"
        )
    check = LogCheck(checkpoints, head, outside=[*signed_head, *outside])
    events = AuditLog(db).read(filters=Filters(), where=or_(AuditEventRow.seq < head, AuditEventRow.seq.is_(None)))
    async with aclosing(events):  # stopping early closes the read (and its connection) at once
        async for event in events:
            if not check.add(event):
                break
    report = check.finish()
    if report.ok:
        async with db.engine.connect() as conn:
            now = await conn.run_sync(tree.head_size)
            beyond = (await conn.execute(select(func.min(AuditEventRow.seq)).where(AuditEventRow.seq >= now))).scalar()
        if beyond is not None:
            report.problem = f"event seq {beyond} is beyond the log's head ({now}): inserted"
    return report
