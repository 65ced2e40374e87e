"""Migration 0010: the reviewers' sign-ins and the failure counts, on SQLite and PostgreSQL, up and down, and as
`gateway/store/tables.py` declares them."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from gateway.store.db import Database, alembic_config
from gateway.store.tables import Base

NEW_TABLES = {"reviewer_sessions", "auth_failures"}


def _inspect(url: str, look: Any) -> Any:
    async def run() -> Any:
        db = Database(url)
        try:
            async with db.engine.connect() as conn:
                return await conn.run_sync(look)
        finally:
            await db.aclose()

    return asyncio.run(run())


def _tables(url: str) -> set[str]:
    return set(_inspect(url, lambda conn: inspect(conn).get_table_names()))


def _differences(url: str) -> list[Any]:
    """What autogenerate would change in the new tables to match tables.py (nothing, if the migration is right)."""

    def compare(conn: Any) -> list[Any]:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        return [d for d in diffs if NEW_TABLES & _names(d)]

    return list(_inspect(url, compare))


def _names(diff: Any) -> set[str]:
    """The table names a diff mentions: ('add_table', Table), ('add_index', Index) or, for a column,
    [('modify_type', schema, table name, column name, ...)]."""
    names: set[str] = set()
    for item in diff if isinstance(diff, list) else [diff]:
        for value in item:
            table = getattr(value, "table", value)
            names.add(value if isinstance(value, str) else str(getattr(table, "name", "")))
    return names


def test_migration_0010_creates_the_sign_in_and_failure_tables(database_url: str) -> None:
    config = alembic_config(database_url)
    command.upgrade(config, "0009")
    assert not NEW_TABLES & _tables(database_url)
    command.upgrade(config, "head")
    assert NEW_TABLES <= _tables(database_url)
    assert _differences(database_url) == []
    command.downgrade(config, "0009")
    assert not NEW_TABLES & _tables(database_url)
    command.upgrade(config, "head")
    assert NEW_TABLES <= _tables(database_url)
