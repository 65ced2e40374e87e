"""A2A streams are relayed live, with `a2a-sdk` on both sides: the first event reaches the caller before the
upstream agent sends its last one; each event is inspected, redacted and decided as it passes (a denial ends
the stream with a JSON-RPC error, what was denied never reaches the caller); the call is audited; a caller that
leaves closes the upstream stream."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from a2a.client import ClientConfig, create_client
from a2a.helpers.proto_helpers import get_stream_response_text, new_text_message
from a2a.types.a2a_pb2 import Role, SendMessageRequest

from tests.a2a.conftest import agent_rows
from tests.hold.reviewer import decide, pending

SSN = "536-22-8456"
EMAIL = "jane.roe@example.com"


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_first_event_arrives_before_the_upstream_sends_its_last(a2a_gateway, a2a_agent):
    gate, received = a2a_agent.executor.gate, []
    async with httpx.AsyncClient(headers=_auth(a2a_gateway.key), timeout=30) as http:
        client = await create_client(f"{a2a_gateway.url}/a2a/planner", ClientConfig(httpx_client=http, streaming=True))
        request = SendMessageRequest(message=new_text_message("/slow", role=Role.ROLE_USER))
        async for response in client.send_message(request):
            received.append((gate.is_set(), json.dumps(get_stream_response_text(response))))
            gate.set()  # only now may the upstream go on to its artifact and completion
        await client.close()
    assert a2a_agent.executor.gate_opened == [True]  # the upstream waited for the caller's first event
    assert received[0][0] is False and len(received) >= 3
    texts = " ".join(text for _, text in received)
    assert "done: the customer's address is" in texts and EMAIL not in texts  # redacted in its event
    rows = await agent_rows(a2a_gateway, "planner", wait_for=4)
    assert [r["phase"] for r in rows][:2] == ["request", "response"] and all(r["allow"] for r in rows)
    redacted = await agent_rows(a2a_gateway, "planner", "redacted")
    assert redacted and redacted[0]["phase"] == "response"


async def test_an_event_the_policy_denies_ends_the_stream(a2a_gateway, a2a_agent):
    a2a_agent.executor.gate.set()
    body = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "message/stream",
        "params": {
            "message": {
                "role": "user",
                "messageId": "m-3",
                "kind": "message",
                "parts": [{"kind": "text", "text": "/slow-ssn"}],
            }
        },
    }
    async with httpx.AsyncClient(timeout=30) as http:
        async with http.stream(
            "POST", f"{a2a_gateway.url}/a2a/planner", json=body, headers=_auth(a2a_gateway.key)
        ) as r:
            events = [json.loads(line[5:]) async for line in r.aiter_lines() if line.startswith("data:")]
    assert SSN not in json.dumps(events)
    assert "result" in events[0]  # the events before the SSN went on as they came
    assert events[-1]["error"]["data"]["code"] == "policy_denied"
    assert events[-1]["error"]["data"]["reasons"] == ["agents may not hand out SSNs"]
    rows = await agent_rows(a2a_gateway, "planner", wait_for=3)
    denied = [r for r in rows if not r["allow"]]
    assert [(r["phase"], r["reasons"]) for r in denied] == [("response", ["agents may not hand out SSNs"])]
    assert SSN not in json.dumps(rows)


async def test_a_caller_that_leaves_closes_the_upstream_stream(a2a_gateway, a2a_agent):
    body = {
        "jsonrpc": "2.0",
        "id": 4,
        "method": "message/stream",
        "params": {
            "message": {
                "role": "user",
                "messageId": "m-4",
                "kind": "message",
                "parts": [{"kind": "text", "text": "/slow"}],
            }
        },
    }
    async with httpx.AsyncClient(timeout=30) as http:
        async with http.stream(
            "POST", f"{a2a_gateway.url}/a2a/planner", json=body, headers=_auth(a2a_gateway.key)
        ) as r:
            assert not a2a_agent.disconnected.is_set()
            async for line in r.aiter_lines():
                if line.startswith("data:"):
                    break  # the first event: leave
    deadline = time.monotonic() + 10
    while not a2a_agent.disconnected.is_set() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert a2a_agent.disconnected.is_set()  # the gateway closed its connection to the upstream
    assert a2a_agent.executor.gate_opened == []  # long before the upstream's last event
    a2a_agent.executor.gate.set()
    # the upstream is closed as the call ends, its records are committed just after: wait for them. Each text
    # event the stream sent before the caller left may have been decided (one or more response decisions); the
    # call's outcome goes on the first of them (`Journal.close`)
    deadline = time.monotonic() + 5
    responses: list[dict] = []
    while not responses and time.monotonic() < deadline:
        rows = await agent_rows(a2a_gateway, "planner", wait_for=2)
        responses = [r for r in rows if r["phase"] == "response"]
        await asyncio.sleep(0.05)
    assert responses and responses[0]["error_code"] == "client_disconnected"
    assert all(r["error_code"] is None for r in responses[1:])


async def test_an_event_the_policy_holds_waits_with_the_rest_for_a_reviewer(a2a_gateway, a2a_agent):
    a2a_agent.executor.gate.set()
    body = _stream_body(5, "/slow")
    received: list[dict] = []

    async def read() -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            headers = {**_auth(a2a_gateway.key), "x-end-user": "reviewed"}
            async with http.stream("POST", f"{a2a_gateway.url}/a2a/planner", json=body, headers=headers) as r:
                async for line in r.aiter_lines():
                    if line.startswith("data:"):
                        received.append(json.loads(line[5:]))

    reading = asyncio.create_task(read())
    (approval,) = await asyncio.to_thread(pending, a2a_gateway.settings)
    deadline = time.monotonic() + 5
    while not received and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert received and not any("artifact" in json.dumps(e) for e in received)  # what came before went on
    assert not reading.done()
    await asyncio.to_thread(decide, a2a_gateway.settings, approval.approval_id, "approve")
    await asyncio.wait_for(reading, 20)
    text = json.dumps(received)
    assert "done: the customer's address is" in text and EMAIL not in text  # released, redacted
    assert "error" not in received[-1] and approval.kind == "agent"


def _stream_body(request_id: int, text: str) -> dict:
    message = {"role": "user", "messageId": f"m-{request_id}", "kind": "message"}
    message["parts"] = [{"kind": "text", "text": text}]
    return {"jsonrpc": "2.0", "id": request_id, "method": "message/stream", "params": {"message": message}}
