"""Every policy version that served, kept in the store by its content hash (`policy_versions`): its Rego modules
and data, and when it was first and last put in force. A decision names its version (`policy_version` in the
audit log); `gateway policy why` and `gateway policy versions` fetch it from here.

    >>> versions = PolicyVersions(db)  # doctest: +SKIP
    >>> await versions.served(source)  # at start, and on each reload  # doctest: +SKIP
    >>> (await versions.get("3f2a9c1d0b7e")).modules  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from gateway.clock import SYSTEM_CLOCK, Clock
from gateway.errors import StoreUnavailable
from gateway.policy.source import PolicySource
from gateway.store.db import Database
from gateway.store.tables import PolicyVersion


@dataclass(frozen=True)
class Version:
    version: str
    modules: dict[str, str]
    data: dict[str, Any]
    first_served: datetime
    last_served: datetime

    def source(self) -> PolicySource:
        """The version as an engine loads it (its files named as they were, under a root of its hash)."""
        return PolicySource(root=Path(self.version), modules=self.modules, data=self.data, version=self.version)


class PolicyVersions:
    def __init__(self, db: Database, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.clock = clock

    async def served(self, source: PolicySource) -> None:
        """Keep `source` (once per version) and note that it is in force now."""
        now = self.clock.now()
        insert = postgresql.insert if self.db.engine.dialect.name == "postgresql" else sqlite.insert
        values = {"version": source.version, "modules": source.policy_modules(), "data": source.data}
        statement = insert(PolicyVersion).values(**values, first_served=now, last_served=now)
        try:
            async with self.db.deadline(), self.db.engine.begin() as conn:
                await conn.execute(statement.on_conflict_do_nothing(index_elements=["version"]))
                await conn.execute(
                    update(PolicyVersion).where(PolicyVersion.version == source.version).values(last_served=now)
                )
        except (SQLAlchemyError, OSError) as exc:
            raise StoreUnavailable("the store is unavailable; the policy version was not recorded") from exc

    async def get(self, version: str) -> Version | None:
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(select(PolicyVersion).where(PolicyVersion.version == version))).first()
        return _version(row) if row is not None else None

    async def all(self) -> list[Version]:
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(PolicyVersion).order_by(PolicyVersion.first_served))).all()
        return [_version(row) for row in rows]


def _version(row: Any) -> Version:
    return Version(row.version, dict(row.modules), dict(row.data), row.first_served, row.last_served)
