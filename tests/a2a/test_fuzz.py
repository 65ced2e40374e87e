"""The A2A surface fuzzed like the others (`tests/fault/test_fuzz_bodies.py`): mutated JSON-RPC bodies get a
JSON-RPC error or an answer, never a server error."""

from __future__ import annotations

import httpx

from tests.a2a.conftest import message_v03
from tests.fault.test_fuzz_bodies import bodies, server_errors

BASES = [message_v03("plan my week"), message_v03("stream it", "message/stream", 2)]


def test_no_a2a_body_gets_a_server_error(a2a_gateway):
    headers = {"authorization": f"Bearer {a2a_gateway.key}", "content-type": "application/json"}
    with httpx.Client(base_url=a2a_gateway.url, timeout=30) as client:
        failures = server_errors(client, "/a2a/planner", bodies("/a2a/planner", 600, BASES), headers)
    assert not failures, f"{len(failures)} server errors:\n" + "\n".join(failures[:8])
