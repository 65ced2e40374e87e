"""No raw value escapes: PII sent through every surface and path (allowed, denied, refused upstream,
streamed, cut off mid-stream) is then looked for in the database, the gateway's log and /metrics."""

from __future__ import annotations

import asyncio
import json
import logging

import anthropic
import httpx
import openai
import pytest
from sqlalchemy import text

from gateway.store.db import Database
from tests.helpers import audit_rows, track

VALUES = ["leak.test@example.com", "(415) 555-2671", "4111 1111 1111 1111", "536-22-8456", "AKIAIOSFODNN7EXAMPLE"]
PROMPT = "Values: " + ", ".join(VALUES)


def _everything_in(database_url: str) -> str:
    async def dump() -> str:
        db = Database(database_url)
        try:
            async with db.engine.connect() as conn:
                tables = ["audit_events", "api_keys", "alembic_version"]
                rows = [list(map(str, r)) for t in tables for r in await conn.execute(text(f"SELECT * FROM {t}"))]
            return json.dumps(rows)
        finally:
            await db.aclose()

    return asyncio.run(dump())


def test_no_raw_value_reaches_the_store_the_log_or_the_metrics(gateway, caplog):
    caplog.set_level(logging.DEBUG)
    oai = track(openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=gateway.key, max_retries=0))
    ant = track(anthropic.Anthropic(base_url=gateway.url, api_key=gateway.key, max_retries=0))
    ask = [{"role": "user", "content": PROMPT}]
    oai.chat.completions.create(model="gpt", messages=ask)  # allowed, redacted
    list(oai.chat.completions.create(model="gpt", messages=ask, stream=True))  # streamed
    oai.chat.completions.create(model="onprem", messages=ask)  # internal: sent as they are, recorded without
    oai.embeddings.create(model="embed", input=[PROMPT])
    ant.messages.create(model="claude", max_tokens=10, messages=ask)
    with pytest.raises(openai.PermissionDeniedError):
        oai.chat.completions.create(model="nope", messages=ask)  # denied
    with pytest.raises(openai.BadRequestError) as refused:
        oai.chat.completions.create(model="onprem-refuses", messages=ask)  # the provider quotes the values
    assert VALUES[0] in refused.value.message  # the agent sees its own provider's answer, as sent
    with pytest.raises(openai.APIError):
        list(oai.chat.completions.create(model="drop", messages=ask, stream=True))  # cut mid-stream
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model="gpt", messages=[{"role": "wizard", "content": PROMPT}])  # malformed

    rows = audit_rows(gateway.settings.database_url, wait_for=14)
    client_side = ("openai", "anthropic", "httpx", "httpcore")  # the agents' own SDKs log what they send
    formatter = logging.Formatter()
    logged = "\n".join(formatter.format(r) for r in caplog.records if not r.name.startswith(client_side))
    assert any(r["error_code"] == "upstream_rejected" and "<EMAIL_ADDRESS>" in (r["detail"] or "") for r in rows)
    stored = _everything_in(gateway.settings.database_url)
    metrics = httpx.get(f"{gateway.url}/metrics").text
    for value in VALUES:
        assert value not in stored, f"{value!r} is in the database"
        assert value not in logged, f"{value!r} is in the log"
        assert value not in metrics, f"{value!r} is in /metrics"
