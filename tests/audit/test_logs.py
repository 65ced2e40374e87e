"""JSON logs: one object a line, the call's request and decision ids, never PII or secrets."""

from __future__ import annotations

import contextvars
import io
import json
import logging
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.audit.journal import Journal
from gateway.flight import Flight
from gateway.logs import JsonFormatter, ScrubbingFormatter, bind_call, scrub
from gateway.services import Services
from tests.conftest import POLICIES
from tests.helpers import audit_rows
from tests.processes import gateway_env, serve

EMAIL, SSN, AWS = "jane.doe@example.com", "078-05-1120", "AKIAIOSFODNN7EXAMPLE"
PROMPT = f"Mail {EMAIL}, SSN {SSN}, key {AWS}."
careless = logging.getLogger("tests.careless")


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every logger's lines, at DEBUG, through the JSON formatter (as `gateway serve --log-format json`)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def log_everything(flight: Flight, services: Services, journal: Journal) -> Flight:
    """A careless stage: logs the raw body and the agent's key (what a bug or a debug line might do)."""
    inbound = flight.inbound  # authenticate drops the key and parse the body: then the parsed call
    key = inbound.api_key.get_secret_value() if inbound and inbound.api_key else None
    what = inbound.body if inbound else flight.call
    careless.warning("body %s, key %s, authorization: Bearer %s", what, key, key)
    try:
        raise ValueError(f"cannot handle {PROMPT}")
    except ValueError:
        careless.exception("decided %s", journal.decision_id)
    return flight


def test_a_call_logs_json_lines_with_its_ids_and_no_pii_or_secrets(gateway, captured):
    pipeline = gateway.server.server.config.app.state.pipeline
    stages = pipeline.request_stages
    pipeline.request_stages = (log_everything, *stages, log_everything)  # before and after the decision
    body = {"model": "gpt", "messages": [{"role": "user", "content": PROMPT}]}
    headers = {"authorization": f"Bearer {gateway.key}", "x-request-id": "req-logs-1"}
    response = httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=headers, timeout=30)
    assert response.status_code == 200
    text = captured.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    for raw in (EMAIL, SSN, AWS, gateway.key, gateway.key.split("_")[-1]):
        assert raw not in text, raw
    mine = [line for line in lines if line["logger"] == "tests.careless"]
    assert len(mine) == 4 and all(line["request_id"] == "req-logs-1" for line in mine)
    assert "decision_id" not in mine[0]  # logged before the policy decided
    request_decision = next(r for r in audit_rows(gateway.settings.database_url, 3) if r["phase"] == "request")
    assert mine[-1]["decision_id"] == request_decision["decision_id"]  # the response's comes later
    assert "<EMAIL_ADDRESS>" in mine[0]["message"] and "<AGENT_KEY>" in mine[0]["message"]
    assert "ValueError" in mine[1]["exception"] and "<AWS_ACCESS_KEY>" in mine[1]["exception"]


def test_lines_outside_a_call_are_scrubbed_and_a_failing_scrub_withholds_the_line():
    record = logging.LogRecord("gateway", logging.ERROR, __file__, 1, "reviewer rvt_abc123 mailed %s", (EMAIL,), None)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "reviewer <REVIEWER_TOKEN> mailed <EMAIL_ADDRESS>" and "request_id" not in line
    assert EMAIL not in ScrubbingFormatter("%(message)s").format(record)

    def broken(text: str) -> str:
        raise RuntimeError("the PII engine failed")

    def formatted() -> Any:
        bind_call("r1", lambda: "d1", broken)
        return json.loads(JsonFormatter().format(record))

    line = contextvars.copy_context().run(formatted)  # the binding stays in that context
    assert (line["request_id"], line["decision_id"]) == ("r1", "d1")
    assert line["message"].endswith("withheld: scrubbing failed]") and EMAIL not in line["message"]
    assert scrub(f"sk-{'a' * 40} and {SSN}") == "<API_KEY> and <US_SSN>"


@pytest.mark.e2e
def test_serve_with_json_logs_writes_only_json_and_no_pii(tmp_path):
    shutil.copytree(POLICIES, tmp_path / "policies")
    env = gateway_env(GATEWAY_LOG_FORMAT="json")
    stderr_path = tmp_path / "stderr.log"
    with (
        stderr_path.open("w") as stderr,
        serve(env, cwd=tmp_path, log_level="debug", ready="/healthz", stdout=subprocess.PIPE, stderr=stderr) as server,
    ):
        url = server.url
        assert server.proc.stdout is not None
        banner = "".join(server.proc.stdout.readline() for _ in range(4))
        key = re.search(r"Demo agent key .*: (agk_\S+)", banner)
        assert key is not None, banner
        body = {"model": "echo", "messages": [{"role": "user", "content": PROMPT}]}
        answer = httpx.post(f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key[1]}"})
        assert answer.status_code == 200
        refused = httpx.post(f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {AWS}"})
        assert refused.status_code == 401
    text = stderr_path.read_text()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is JSON
    assert any(line["logger"] == "uvicorn.error" for line in lines)  # uvicorn's own lines too
    assert any(line["logger"] == "gateway" and "gateway ready" in line["message"] for line in lines)
    for raw in (EMAIL, SSN, AWS, key[1]):
        assert raw not in text, raw
