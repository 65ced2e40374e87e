"""What an attacker with write access to the store can no longer hide, on SQLite and PostgreSQL:

- events after the newest checkpoint, edited and rehashed or deleted: the head is signed with every batch;
- the tail deleted together with the checkpoints that cover it: `verify --against` a saved checkpoint, or
  `--anchors` the directory the gateway anchors to, says how many events are missing;
- a witness (`gateway audit witness`, run as its own process) cosigns only checkpoints that extend the last one
  it saw, and `verify --witness` checks its cosignatures.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from gateway.audit.anchors import Anchoring, anchor_file
from gateway.audit.leaf import event_leaf
from gateway.audit.merkle import Frontier
from gateway.audit.records import AuditLog
from gateway.metrics import Metrics
from gateway.settings import AnchorsConfig, WitnessConfig
from gateway.store.db import Database
from tests.audit.helpers import cli, events, fill, settings, verifier, with_database
from tests.audit.test_tamper import check, rows, sql
from tests.processes import free_port, running, wait_healthy

N = 30  # checkpoints at 8, 16, 24 and 30 (at shutdown)


def write_unsigned_tail(url: str, n: int) -> None:
    """`n` more events through the writer, with no checkpoint after them (a gateway killed before its next)."""

    async def run() -> None:
        db = Database(url)
        log = AuditLog.from_settings(db, settings(url, every=1000))
        try:
            for row in events(n, offset=N):
                await log.write([row])
        finally:
            if log._writer is not None:
                await log._writer
            await log._drop_connection()
            if log._sqlite is not None:
                await log._sqlite.aclose()
            await db.aclose()

    asyncio.run(run())


def rehash(url: str) -> None:
    """What an attacker without the key does after editing rows: every leaf hash and the head's tree again."""
    stored = rows(url)
    frontier = Frontier()
    for row in stored:
        leaf = event_leaf(row, row["seq"])
        sql(url, "UPDATE audit_events SET leaf_hash = :h WHERE seq = :s", h=leaf.hex(), s=row["seq"])
        frontier.append(leaf)
    sql(
        url,
        "UPDATE audit_head SET size = :n, frontier = :f WHERE id = 1",
        n=frontier.size,
        f=json.dumps(frontier.hex()),
    )


def cut_back_to(url: str, size: int) -> None:
    """Delete every event from `size` on and the checkpoints that cover them; the head as it was at `size`,
    signed with that checkpoint's note: the log looks whole."""
    note, frontier = with_database(url, lambda db: _checkpoint(db, size))
    sql(
        url,
        "DELETE FROM audit_events WHERE seq >= :n",
        "DELETE FROM audit_checkpoints WHERE tree_size > :n",
        "UPDATE audit_head SET size = :n, frontier = :f, note = :note WHERE id = 1",
        n=size,
        f=json.dumps(frontier),
        note=note,
    )


async def _checkpoint(db: Database, size: int) -> tuple[str, list[str]]:
    async with db.engine.connect() as conn:
        found = await conn.execute(
            text("SELECT note, frontier FROM audit_checkpoints WHERE tree_size = :n"), {"n": size}
        )
        note, frontier = found.one()
    return note, frontier if isinstance(frontier, list) else json.loads(frontier)


@pytest.fixture
def log_url(database_url: str) -> str:
    asyncio.run(fill(database_url, N))
    return database_url


def test_an_event_after_the_newest_checkpoint_cannot_be_edited_and_rehashed(log_url):
    write_unsigned_tail(log_url, 5)
    report = check(log_url)
    assert report.ok and report.events == N + 5 and report.signed == N, report.problem
    sql(log_url, "UPDATE audit_events SET agent = 'mallory' WHERE seq = 32")
    rehash(log_url)
    problem = check(log_url).problem or ""
    assert "the head's signature" in problem and "was changed" in problem, problem


@pytest.mark.parametrize("unsign", [False, True])
def test_events_after_the_newest_checkpoint_cannot_be_deleted(log_url, unsign):
    write_unsigned_tail(log_url, 5)
    sql(log_url, "DELETE FROM audit_events WHERE seq >= 33")
    rehash(log_url)  # the head now counts 33 events, with their frontier
    if unsign:
        sql(log_url, "UPDATE audit_head SET note = NULL WHERE id = 1")
    problem = check(log_url).problem or ""
    assert ("not signed" if unsign else "signature is for 35") in problem, problem


def test_a_tail_deleted_with_its_checkpoints_fails_against_a_saved_checkpoint(log_url, tmp_path):
    saved = tmp_path / "saved.checkpoint"
    made = cli(tmp_path, log_url, "audit", "checkpoint", "--out", str(saved))
    assert made.returncode == 0 and saved.read_text().startswith("agent-governance-gateway/audit\n30\n"), made.stderr
    cut_back_to(log_url, 16)
    assert check(log_url).ok  # nothing in the store remembers: the known limit of a log that checks itself
    result = cli(tmp_path, log_url, "audit", "verify", "--against", str(saved))
    assert result.returncode == 1, result.stdout
    assert "covers 30 events but the log holds 16: 14 events are missing" in result.stdout, result.stdout


def anchoring(url: str, directory: Path | None, witnesses: list[WitnessConfig] = ()) -> Anchoring:
    config = AnchorsConfig(dir=directory, witnesses=list(witnesses))
    return Anchoring(config, Database(url), Metrics(), "agent-governance-gateway/audit")


def anchor(url: str, directory: Path | None, witnesses: list[WitnessConfig] = ()) -> Anchoring:
    async def run() -> Anchoring:
        made = anchoring(url, directory, witnesses)
        try:
            await made.once()
        finally:
            await made.aclose()
            await made.db.aclose()
        return made

    return asyncio.run(run())


def test_a_tail_deleted_with_its_checkpoints_fails_against_the_anchors(log_url, tmp_path):
    anchors = tmp_path / "anchors"
    anchor(log_url, anchors)
    lines = anchor_file(anchors, "agent-governance-gateway/audit").read_text().splitlines()
    assert [json.loads(line)["size"] for line in lines] == [N]
    assert cli(tmp_path, log_url, "audit", "verify", "--anchors", str(anchors)).returncode == 0
    cut_back_to(log_url, 24)
    result = cli(tmp_path, log_url, "audit", "verify", "--anchors", str(anchors))
    assert result.returncode == 1 and "6 events are missing (seq 24 to 29" in result.stdout, result.stdout


def test_an_anchor_that_cannot_be_written_is_counted_and_retried(log_url, tmp_path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the directory should be")
    made = anchor(log_url, blocked / "anchors")
    assert made.metrics is not None
    assert made.metrics.audit_anchor_failures.labels("dir")._value.get() == 1
    assert "dir" not in made.anchored  # the next tick tries again


@pytest.fixture
def witness(tmp_path: Path, log_url: str) -> Any:
    """`gateway audit witness` as its own process, watching the test log's key."""
    port = free_port()
    options = ["--dir", str(tmp_path / "witness"), "--log", verifier(log_url).vkey(), "--port", str(port)]
    with running("audit", "witness", *options, "--name", "example/witness", stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        key = proc.stdout.readline().strip()
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc, status=None)
        yield url, key


def test_a_witness_cosigns_what_extends_and_refuses_a_rewritten_history(log_url, tmp_path, witness):
    url, key = witness
    anchors = tmp_path / "anchors"
    made = anchor(log_url, anchors, [WitnessConfig(url=url, key=key)])
    assert made.anchored == {url: N, "dir": N}
    record = json.loads(anchor_file(anchors, "agent-governance-gateway/audit").read_text().splitlines()[-1])
    assert len(record["cosignatures"]) == 1 and record["cosignatures"][0].startswith("— example/witness ")
    result = cli(tmp_path, log_url, "audit", "verify", "--anchors", str(anchors), "--witness", key)
    assert result.returncode == 0, result.stdout
    # more events: the witness gets a consistency proof from 30 and cosigns again
    asyncio.run(_more(log_url, 10))
    again = anchor(log_url, None, [WitnessConfig(url=url, key=key)])
    assert again.anchored == {url: N + 10}
    # the tail cut back and rewritten: a checkpoint the witness cannot reach from what it saw
    cut_back_to(log_url, 24)
    asyncio.run(_more(log_url, 20, agent="mallory"))
    refused = anchor(log_url, None, [WitnessConfig(url=url, key=key)])
    assert url not in refused.anchored
    assert refused.metrics is not None and refused.metrics.audit_anchor_failures.labels(url)._value.get() >= 1
    forged = cli(tmp_path, log_url, "audit", "verify", "--anchors", str(anchors), "--witness", "x+00000000+AQ==")
    assert forged.returncode == 1  # a key that is not a witness's


async def _more(url: str, n: int, agent: str = "support-bot") -> None:
    db = Database(url)
    log = AuditLog.from_settings(db, settings(url))
    try:
        for row in events(n, agent=agent, offset=100):
            await log.write([row])
    finally:
        await log.aclose()
        await db.aclose()
