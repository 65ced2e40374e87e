"""Every answer and stream event of the gateway's `/v1/responses` matches the Responses API's published schema
(the openai SDK's types, generated from the OpenAPI spec, checked strictly by tests/schema.py), over both
translated routes: to a Chat Completions provider and to an Anthropic provider."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from openai.types import ErrorObject
from openai.types.responses import Response, ResponseStreamEvent
from openai.types.responses.response_item_list import ResponseItemList

from tests.conftest import make_settings
from tests.helpers import WEATHER, audit_rows
from tests.schema import assert_valid, problems

JSON_FORMAT = {
    "type": "json_schema",
    "name": "weather",
    "schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "strict": True,
}
IMAGE = [
    {"type": "input_text", "text": "what is this?"},
    {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"},
]
REASONING_ITEM = {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "thought"}]}

SCENARIOS: dict[str, dict[str, Any]] = {
    "text": {"input": "hello", "instructions": "be brief"},
    "function call": {"input": "weather in Paris?", "tools": [WEATHER], "tool_choice": "auto", "route": "tool"},
    "structured output": {"input": "json please", "text": {"format": JSON_FORMAT}},
    "reasoning": {
        "input": [{"role": "user", "content": "think"}, REASONING_ITEM, {"role": "user", "content": "answer"}],
        "reasoning": {"effort": "low", "summary": "auto"},
    },
    "image input": {"input": [{"role": "user", "content": IMAGE}]},
    "incomplete": {"input": "a long story", "max_output_tokens": 16, "route": "length"},
    "settings echoed": {"input": "hi", "metadata": {"k": "v"}, "temperature": 0.5, "top_p": 0.9, "user": "u-1"},
}
ROUTES = {"openai": "gpt", "anthropic": "claude"}  # the translated routes: Chat Completions, Anthropic


@pytest.fixture
def gateway(gateway_factory: Any, sqlite_url: str) -> Any:
    routes = dict(make_settings(sqlite_url, "http://x", "http://x").model_dump()["routes"])
    routes["gpt-length"] = {"provider": "oai", "model": "gpt-length"}
    routes["claude-length"] = {"provider": "ant", "model": "claude-length"}
    routes["gpt-cutoff"] = {"provider": "oai", "model": "gpt-cutoff", "retries": 0}
    routes["claude-cutoff"] = {"provider": "ant", "model": "claude-cutoff", "retries": 0}
    return gateway_factory(sqlite_url, routes=routes)


def _auth(gateway: Any) -> dict[str, str]:
    return {"authorization": f"Bearer {gateway.key}"}


def _body(provider: str, scenario: str) -> dict[str, Any]:
    body = dict(SCENARIOS[scenario])
    suffix = body.pop("route", None)
    return {"model": f"{ROUTES[provider]}-{suffix}" if suffix else ROUTES[provider], **body}


def _events(gateway: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
    events = []
    with httpx.stream(
        "POST", f"{gateway.url}/v1/responses", json={**body, "stream": True}, headers=_auth(gateway)
    ) as r:
        assert r.status_code == 200, r.read()
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


def _check_events(events: list[dict[str, Any]]) -> None:
    assert events, "no events"
    for event in events:
        found = problems(event, ResponseStreamEvent)
        assert not found, f"{event['type']}: " + "\n".join(found[:10])
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


@pytest.mark.parametrize("provider", list(ROUTES))
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_whole_responses_match_the_schema(gateway, provider, scenario):
    answer = httpx.post(f"{gateway.url}/v1/responses", json=_body(provider, scenario), headers=_auth(gateway))
    assert answer.status_code == 200, answer.text
    assert_valid(answer.json(), Response)
    if scenario == "incomplete":
        assert answer.json()["status"] == "incomplete"


@pytest.mark.parametrize("provider", list(ROUTES))
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_stream_events_match_the_schema(gateway, provider, scenario):
    events = _events(gateway, _body(provider, scenario))
    _check_events(events)
    last = "response.incomplete" if scenario == "incomplete" else "response.completed"
    assert events[-1]["type"] == last


@pytest.mark.parametrize("provider", list(ROUTES))
def test_a_stream_that_fails_midway_ends_with_events_that_match_the_schema(gateway, provider):
    events = _events(gateway, {"model": f"{ROUTES[provider]}-cutoff", "input": "hi"})
    _check_events(events)
    assert events[-1]["type"] in ("error", "response.failed")
    rows = audit_rows(gateway.settings.database_url, wait_for=2)  # and the call's end is audited
    assert rows[-1]["event"] == "outcome" and rows[-1]["error_code"] == "upstream_error"


@pytest.mark.parametrize("provider", list(ROUTES))
@pytest.mark.parametrize("stream", [False, True])
def test_kept_responses_and_their_input_items_match_the_schema(gateway, provider, stream):
    body = _body(provider, "function call")
    if stream:
        response_id = _events(gateway, body)[-1]["response"]["id"]
    else:
        response_id = httpx.post(f"{gateway.url}/v1/responses", json=body, headers=_auth(gateway)).json()["id"]
    got = httpx.get(f"{gateway.url}/v1/responses/{response_id}", headers=_auth(gateway))
    assert_valid(got.json(), Response)
    call = next(item for item in got.json()["output"] if item["type"] == "function_call")
    output = {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}
    follow = {
        "model": ROUTES[provider],
        "previous_response_id": response_id,
        "input": [output, REASONING_ITEM, *IMAGE_MESSAGE],
    }
    second = httpx.post(f"{gateway.url}/v1/responses", json=follow, headers=_auth(gateway)).json()
    assert_valid(second, Response)
    items = httpx.get(f"{gateway.url}/v1/responses/{second['id']}/input_items", headers=_auth(gateway))
    assert_valid(items.json(), ResponseItemList)
    assert [i["type"] for i in items.json()["data"]] == ["message", "reasoning", "function_call_output"]  # newest first


IMAGE_MESSAGE = [{"type": "message", "role": "user", "content": IMAGE}]


def test_errors_and_cancel_answer_in_the_error_object_shape(gateway):
    made = httpx.post(f"{gateway.url}/v1/responses", json=_body("openai", "text"), headers=_auth(gateway)).json()
    cancel = httpx.post(f"{gateway.url}/v1/responses/{made['id']}/cancel", headers=_auth(gateway))
    missing = httpx.get(f"{gateway.url}/v1/responses/resp_unknown", headers=_auth(gateway))
    down = httpx.post(f"{gateway.url}/v1/responses", json={"model": "all-down", "input": "hi"}, headers=_auth(gateway))
    for answer, status in ((cancel, 400), (missing, 404), (down, 502)):
        assert answer.status_code == status, answer.text
        error = dict(answer.json()["error"])
        for documented in ("reasons", "decision_id", "approval_id"):  # the gateway's own, beside OpenAI's keys
            error.pop(documented, None)
        assert_valid(error, ErrorObject)
