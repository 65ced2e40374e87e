"""Events stored before the tree existed join it in order when migration 0005 runs, and verify."""

from __future__ import annotations

import json
import sqlite3

from alembic import command

from gateway.audit.journal import Journal
from gateway.audit.records import AuditLog
from gateway.audit.verify import verify_store
from gateway.model import Origin
from gateway.store.db import alembic_config
from tests.audit.helpers import verifier, with_database


def test_old_events_are_backfilled_into_the_tree(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/old.db"
    command.upgrade(alembic_config(url), "0004")
    journal = Journal(Origin(surface="openai", request_id="old"))
    journal.failed("invalid_api_key", "missing agent key")
    row = journal.close(None, None)[0].row()
    for later in ("policy", "session", "injection"):  # columns of 0013 and 0015: written as revision 0004 wrote them
        del row[later]
    columns = list(row)
    values = [json.dumps(v) if isinstance(v, list | dict) else v for v in row.values()]
    values[columns.index("ts")] = row["ts"].strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(tmp_path / "old.db") as conn:
        for i in range(3):
            values[columns.index("decision_id")] = f"old{i}"
            placeholders = ", ".join("?" * len(columns))
            conn.execute(f"INSERT INTO audit_events ({', '.join(columns)}) VALUES ({placeholders})", values)
    command.upgrade(alembic_config(url), "head")

    async def checkpoint_and_verify(db):
        from tests.audit.helpers import settings

        await AuditLog.from_settings(db, settings(url)).checkpoint()
        return await verify_store(db, verifier(url))

    report = with_database(url, checkpoint_and_verify)
    assert report.ok and report.events == 3, report.problem
