"""The Responses API (`/v1/responses`) with the official openai SDK as the agent, through stand-in providers."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from pydantic import BaseModel

from tests.helpers import WEATHER, audit_rows, track


def client(gw, key: str | None = None) -> openai.OpenAI:
    return track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key or gw.key, max_retries=0))


def test_create_through_a_chat_completions_provider(gateway, openai_upstream):
    response = client(gateway).responses.create(model="gpt", input="hello", instructions="be brief")
    assert response.output_text == "openai says: hello"
    assert response.status == "completed" and response.model == "gpt" and response.id.startswith("resp_")
    assert response.usage is not None and response.usage.input_tokens == 11 and response.usage.output_tokens == 7
    sent = openai_upstream[0].received[-1]
    assert sent["model"] == "gpt-test"
    assert sent["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]
    rows = audit_rows(gateway.settings.database_url, wait_for=2)
    assert [(r["phase"], r["allow"]) for r in rows[-2:]] == [("request", True), ("response", True)]


def test_create_through_an_anthropic_provider(gateway, anthropic_upstream):
    response = client(gateway).responses.create(model="claude", input=[{"role": "user", "content": "bonjour"}])
    assert response.output_text == "anthropic says: bonjour"
    assert anthropic_upstream[0].received[-1]["model"] == "claude-test"


def test_function_tools_keep_strict_and_the_round_trip_works(gateway, openai_upstream):
    api = client(gateway)
    first = api.responses.create(model="gpt-tool", input="weather in Paris?", tools=[WEATHER])
    call = next(item for item in first.output if item.type == "function_call")
    assert call.name == "get_weather" and json.loads(call.arguments)["city"] == "Paris"
    tool = openai_upstream[0].received[-1]["tools"][0]
    assert tool == {
        "type": "function",
        "function": {k: WEATHER[k] for k in ("name", "description", "parameters", "strict")},
    }
    output = {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}
    second = api.responses.create(model="gpt", previous_response_id=first.id, input=[output], tools=[WEATHER])
    assert second.previous_response_id == first.id
    messages = openai_upstream[0].received[-1]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    assert messages[1]["tool_calls"][0]["id"] == call.call_id and messages[2]["content"] == "sunny"


def test_conversation_continues_with_previous_response_id(gateway, openai_upstream):
    api = client(gateway)
    first = api.responses.create(model="gpt", input="my name is Ada", instructions="first instructions")
    second = api.responses.create(model="gpt", input="what is my name?", previous_response_id=first.id)
    messages = openai_upstream[0].received[-1]["messages"]
    assert messages == [  # instructions are not carried over (as on OpenAI)
        {"role": "user", "content": "my name is Ada"},
        {"role": "assistant", "content": [{"type": "text", "text": "openai says: my name is Ada"}]},  # its parts
        {"role": "user", "content": "what is my name?"},
    ]
    assert api.responses.retrieve(second.id).output_text == second.output_text
    items = api.responses.input_items.list(second.id, order="asc")
    assert [i.type for i in items.data] == ["message"] and items.data[0].content[0].text == "what is my name?"


def test_previous_response_of_another_agent_is_not_found(gateway_factory, sqlite_url):
    from tests.conftest import create_key

    gw = gateway_factory(sqlite_url)
    first = client(gw).responses.create(model="gpt", input="secret")
    other = create_key(sqlite_url, agent="other-bot")
    with pytest.raises(openai.BadRequestError) as err:
        client(gw, other).responses.create(model="gpt", input="and?", previous_response_id=first.id)
    assert err.value.body["param"] == "previous_response_id"
    with pytest.raises(openai.NotFoundError):
        client(gw, other).responses.retrieve(first.id)


def test_delete_and_cancel(gateway):
    api = client(gateway)
    response = api.responses.create(model="gpt", input="forget me")
    with pytest.raises(openai.BadRequestError, match="background"):
        api.responses.cancel(response.id)
    api.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        api.responses.retrieve(response.id)


def test_store_false_keeps_nothing(gateway):
    api = client(gateway)
    response = api.responses.create(model="gpt", input="ephemeral", store=False)
    assert response.store is False
    with pytest.raises(openai.NotFoundError):
        api.responses.retrieve(response.id)


class Weather(BaseModel):
    city: str
    celsius: int


def test_structured_output_becomes_response_format(gateway, openai_upstream):
    client(gateway).responses.parse(model="gpt", input="json please", text_format=Weather) if False else None
    fmt = {"type": "json_schema", "name": "weather", "schema": Weather.model_json_schema(), "strict": True}
    response = client(gateway).responses.create(model="gpt", input="json please", text={"format": fmt})
    assert response.text.format.type == "json_schema"
    sent = openai_upstream[0].received[-1]["response_format"]
    assert sent == {"type": "json_schema", "json_schema": {k: fmt[k] for k in ("name", "schema", "strict")}}


def test_images_reach_the_provider(gateway, openai_upstream):
    image = "data:image/png;base64,iVBORw0KGgo="
    content = [{"type": "input_text", "text": "what is this?"}, {"type": "input_image", "image_url": image}]
    client(gateway).responses.create(model="gpt", input=[{"role": "user", "content": content}])
    sent = openai_upstream[0].received[-1]["messages"][0]["content"]
    assert sent == [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": image}}]


def test_hosted_tools_the_policy_does_not_name_are_taken_out_of_the_call(gateway, openai_upstream):
    """The default: the agent still gets an answer (on a translated route too); the model never sees the tool, and
    the request decision's audit reasons say it was removed."""
    answer = client(gateway).responses.create(model="gpt", input="search", tools=[{"type": "web_search"}, WEATHER])
    assert answer.output_text.strip() == "openai says: search"
    sent = openai_upstream[0].received[-1]
    assert [t["function"]["name"] for t in sent["tools"]] == [WEATHER["name"]]
    rows = [r for r in audit_rows(gateway.settings.database_url, wait_for=2) if r["phase"] == "request"]
    assert rows[-1]["allow"] and "hosted tool 'web_search' removed from the call" in rows[-1]["reasons"][0]


def test_a_policy_can_deny_a_call_offering_a_hosted_tool_it_does_not_name(gateway_factory, sqlite_url, tmp_path):
    (tmp_path / "policy.rego").write_text(
        'package gateway\n\nimport rego.v1\n\ndecision := {"allow": true, "reasons": [], "hold": null, "redact": [],'
        ' "route": null, "hosted_unallowed": "deny"}\n'
    )
    gw = gateway_factory(sqlite_url, policy={"dir": str(tmp_path), "timeout_ms": 2000})
    with pytest.raises(openai.PermissionDeniedError, match="hosted tool 'web_search' is not allowed") as err:
        client(gw).responses.create(model="gpt", input="search", tools=[{"type": "web_search"}])
    assert err.value.body["code"] == "policy_denied"
    row = audit_rows(sqlite_url, wait_for=1)[-1]
    assert row["allow"] is False and row["error_code"] == "policy_denied"


def test_streaming_emits_the_semantic_events(gateway):
    with client(gateway).responses.stream(model="gpt", input="stream me") as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert final.output_text.strip() == "openai says: stream me"
    assert client(gateway).responses.retrieve(final.id).output_text == final.output_text


def test_streaming_function_call(gateway):
    with client(gateway).responses.stream(model="claude-tool", input="weather?", tools=[WEATHER]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds and "response.function_call_arguments.done" in kinds
    call = final.output[0]
    assert call.type == "function_call" and json.loads(call.arguments) == {"city": "Paris", "amount": 5000}


def test_policy_denies_a_risky_function_call_the_model_asks_for(gateway):
    with pytest.raises(openai.PermissionDeniedError, match="risky tools list"):
        client(gateway).responses.create(model="gpt-tool", input="call transfer_funds", tools=[WEATHER])
    rows = audit_rows(gateway.settings.database_url, wait_for=2)
    assert rows[-1]["phase"] == "response" and rows[-1]["allow"] is False


def test_unauthenticated_is_401_in_openai_shape(gateway):
    answer = httpx.post(f"{gateway.url}/v1/responses", json={"model": "gpt", "input": "hi"})
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "invalid_api_key"
    assert answer.headers["x-request-id"]


@pytest.mark.parametrize("stream", [False, True])
def test_reading_a_kept_response_is_a_call_of_its_own_decided_and_audited(gateway, stream):
    """No side door: a read of what the gateway kept is authenticated, decided (`kind: read`) and audited."""
    api = client(gateway)
    made = api.responses.with_raw_response.create(model="gpt", input="hello", stream=stream)
    decision_id = made.headers["x-gateway-decision-id"]
    if stream:
        response_id = next(e for e in made.parse() if e.type == "response.completed").response.id
    else:
        response_id = made.parse().id
    reads = []
    for path in (f"/v1/responses/{response_id}", f"/v1/responses/{response_id}/input_items"):
        got = httpx.get(gateway.url + path, headers={"authorization": f"Bearer {gateway.key}"})
        assert got.status_code == 200 and got.headers["x-gateway-decision-id"] != decision_id
        reads.append(got.headers["x-gateway-decision-id"])
    rows = {r["decision_id"]: r for r in audit_rows(gateway.settings.database_url, wait_for=4)}
    for read, operation in zip(reads, ("responses.get", "responses.input_items"), strict=True):
        row = rows[read]
        assert (row["kind"], row["target"], row["allow"], row["upstream_model"]) == (
            "read",
            response_id,
            True,
            operation,
        )
