"""Shared by the audit tests: a log with signed checkpoints, filled through the real writer."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from gateway.audit.journal import Journal
from gateway.audit.records import AuditLog
from gateway.audit.signing import Verifier, signer_from
from gateway.model import Origin
from gateway.settings import Settings
from gateway.store.db import Database
from tests import processes

T = TypeVar("T")


def settings(database_url: str, every: int = 8) -> Settings:
    return Settings.model_validate(
        {
            "database_url": database_url,
            "audit": {"signing_key_env": "GATEWAY_TEST_AUDIT_KEY", "checkpoint_every": every},
        }
    )


def verifier(database_url: str) -> Verifier:
    signer = signer_from(settings(database_url))
    assert signer is not None
    return signer.verifier


def events(n: int, agent: str = "support-bot", offset: int = 0) -> list[dict[str, Any]]:
    """`n` events as calls leave them: a denied request each, with floats and lists in them."""
    rows = []
    for i in range(offset, offset + n):
        journal = Journal(Origin(surface="openai", request_id=f"r{i}"))
        journal.failed("invalid_api_key", "missing agent key")
        journal.stages["authenticate"] = 0.1 + i / 3  # floats that do not print short
        for event in journal.close(None, None):
            event.agent, event.team = agent, "cs"
            event.allow = i % 2 == 0
            rows.append(event.row())
    return rows


async def fill(database_url: str, n: int, every: int = 8) -> None:
    """Write `n` events one call at a time through the writer; the last checkpoint is signed at shutdown."""
    db = Database(database_url)
    await db.migrate()
    log = AuditLog.from_settings(db, settings(database_url, every))
    try:
        for row in events(n):
            await log.write([row])
    finally:
        await log.aclose()
        await db.aclose()


def with_database(database_url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        db = Database(database_url)
        try:
            return await work(db)
        finally:
            await db.aclose()

    return asyncio.run(run())


def cli(tmp_path: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `gateway ARGS` with a config that names the database and the test signing key."""
    config = tmp_path / "gateway.yaml"
    config.write_text(
        f"database_url: {database_url}\naudit:\n  signing_key_env: GATEWAY_TEST_AUDIT_KEY\n  checkpoint_every: 8\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_DATABASE_URL"}
    return processes.cli(*args, env=env | {"GATEWAY_CONFIG": str(config)})
