"""2025-11-25 session ids are signed, not remembered: every worker or replica sharing the approvals key accepts
a session another one opened (`gateway serve --workers N` spreads a client's requests over processes)."""

from __future__ import annotations

from gateway.mcp.hub import McpHub
from gateway.settings import Settings
from gateway.store.db import Database


def hub(tmp_path, key: str) -> McpHub:
    settings = Settings.model_validate(
        {
            "database_url": f"sqlite+aiosqlite:///{tmp_path}/gateway.db",
            "approvals": {"key_file": str(tmp_path / key)},
            "mcp_servers": {"bank": {"url": "http://127.0.0.1:9/mcp"}},
        }
    )
    return McpHub.build(settings, Database(settings.database_url), None)  # type: ignore[arg-type]


def test_a_session_opened_by_one_worker_is_accepted_by_another(tmp_path):
    first, second = hub(tmp_path, "shared.key"), hub(tmp_path, "shared.key")
    session = first.open_session("bank", "key-1", "2025-11-25")
    assert second.session(session.session_id) == session
    assert first.open_session("bank", "key-1", "2025-11-25").session_id != session.session_id  # a nonce each


def test_forged_tampered_or_foreign_ids_are_refused(tmp_path):
    mine, other = hub(tmp_path, "shared.key"), hub(tmp_path, "other.key")
    session = mine.open_session("bank", "key-1", "2025-11-25")
    assert other.session(session.session_id) is None  # another deployment's key
    head, _, signature = session.session_id.rpartition(".")
    assert mine.session(f"{head}.{signature[::-1]}") is None
    assert mine.session("not-a-session") is None and mine.session("") is None


def test_an_ended_session_is_refused_by_the_worker_that_ended_it(tmp_path):
    mine = hub(tmp_path, "shared.key")
    session = mine.open_session("bank", "key-1", "2025-11-25")
    mine.end(session.session_id)
    assert mine.session(session.session_id) is None
