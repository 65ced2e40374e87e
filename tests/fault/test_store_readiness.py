"""/readyz is honest about the store: a SQLite file deleted (or replaced) under the running gateway keeps
taking writes into an unlinked inode, recorded nowhere; readiness must say so."""

from __future__ import annotations

import os
from pathlib import Path

import httpx


def test_a_deleted_sqlite_file_makes_the_gateway_unready(gateway_factory, tmp_path: Path) -> None:
    database = tmp_path / "store" / "gateway.db"
    database.parent.mkdir()
    gw = gateway_factory(f"sqlite+aiosqlite:///{database}")
    assert httpx.get(f"{gw.url}/readyz").json()["checks"]["database"] is True
    os.unlink(database)
    ready = httpx.get(f"{gw.url}/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["database"] is False


def test_postgres_and_sqlite_stores_that_take_writes_are_ready(gateway_factory, database_url: str) -> None:
    gw = gateway_factory(database_url)
    ready = httpx.get(f"{gw.url}/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] is True


def test_calls_on_a_deleted_sqlite_file_are_refused_not_recorded_nowhere(gateway_factory, tmp_path: Path) -> None:
    database = tmp_path / "store" / "gateway.db"
    database.parent.mkdir()
    gw = gateway_factory(f"sqlite+aiosqlite:///{database}")
    body = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
    auth = {"authorization": f"Bearer {gw.key}"}
    assert httpx.post(f"{gw.url}/v1/chat/completions", json=body, headers=auth).status_code == 200
    os.unlink(database)
    refused = httpx.post(f"{gw.url}/v1/chat/completions", json=body, headers=auth)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "store_unavailable"
    assert "gateway_audit_failures_total 2.0" in httpx.get(f"{gw.url}/metrics").text  # decision + outcome, counted
