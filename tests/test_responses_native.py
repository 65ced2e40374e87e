"""Native Responses routes (`responses: native`): the agent's JSON reaches a provider that speaks the Responses API
unchanged but for the gateway's edits, and its answer (or stream of events) comes back the same way, through
every stage. The agent is the official openai SDK; the provider a stand-in (`tests.responses_upstream`)."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import POLICIES, ServerThread, create_key
from tests.helpers import WEATHER, audit_rows, track
from tests.responses_upstream import ResponsesUpstream, stream_events

TRANSFER = {"type": "function", "name": "transfer_funds", "parameters": {"type": "object", "properties": {}}}
HOSTED = ["web_search", "file_search", "code_interpreter", "mcp:deepwiki"]


@pytest.fixture(scope="module")
def native_upstream() -> Iterator[tuple[ResponsesUpstream, str]]:
    upstream = ResponsesUpstream()
    with ServerThread(upstream.app) as server:
        yield upstream, server.url


def _policies(tmp_path: Path, allowed: list[str]) -> str:
    """The default policies, with `allowed_hosted_tools` set."""
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    data_file = target / "gateway" / "data.json"
    data = json.loads(data_file.read_text())
    data_file.write_text(json.dumps({**data, "allowed_hosted_tools": allowed}))
    return str(target)


def _start(gateway_factory: Any, sqlite_url: str, native_url: str, openai_url: str, policy_dir: str) -> Any:
    providers = {
        "native": {"kind": "openai", "base_url": f"{native_url}/v1", "responses": "native"},
        "oai": {"kind": "openai", "base_url": f"{openai_url}/v1"},
    }
    routes = {
        "nat": {"provider": "native", "model": "plain"},
        "nat-rich": {"provider": "native", "model": "rich"},
        "nat-leak": {"provider": "native", "model": "leak"},
        "nat-tool": {"provider": "native", "model": "tool"},
        "nat-rich-leak": {"provider": "native", "model": "rich-leak"},
        "gpt": {"provider": "oai", "model": "gpt-test"},
        "mixed": {"provider": "native", "model": "plain", "fallbacks": [{"provider": "oai", "model": "gpt-test"}]},
    }
    policy = {"dir": policy_dir, "timeout_ms": 2000}
    return gateway_factory(sqlite_url, providers=providers, routes=routes, policy=policy)


@pytest.fixture
def native(gateway_factory, sqlite_url, native_upstream, openai_upstream, tmp_path):
    """A gateway whose policy allows no hosted tool (the default)."""
    return _start(gateway_factory, sqlite_url, native_upstream[1], openai_upstream[1], str(POLICIES))


@pytest.fixture
def hosted(gateway_factory, sqlite_url, native_upstream, openai_upstream, tmp_path):
    """A gateway whose policy names some hosted tools."""
    return _start(gateway_factory, sqlite_url, native_upstream[1], openai_upstream[1], _policies(tmp_path, HOSTED))


def client(gw: Any) -> openai.OpenAI:
    return track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0))


def _as_agent_sees(sent: dict[str, Any], alias: str, previous: str | None = None) -> dict[str, Any]:
    return {**sent, "model": alias, "previous_response_id": previous}


def test_a_call_reaches_the_provider_as_sent_and_its_answer_comes_back_whole(native, native_upstream):
    upstream = native_upstream[0]
    raw = client(native).responses.with_raw_response.create(
        model="nat-rich",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "call the weather"}]}],
        instructions="be brief",
        tools=[WEATHER],
        reasoning={"effort": "low", "summary": "auto"},
        include=["reasoning.encrypted_content", "message.output_text.logprobs"],
    )
    sent = upstream.received[-1]
    assert sent == {
        "model": "rich",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "call the weather"}]}],
        "instructions": "be brief",
        "tools": [WEATHER],
        "reasoning": {"effort": "low", "summary": "auto"},
        "include": ["reasoning.encrypted_content", "message.output_text.logprobs"],
    }
    assert raw.http_response.json() == _as_agent_sees(upstream.sent[-1], "nat-rich")
    response = raw.parse()
    assert [item.type for item in response.output] == ["reasoning", "message", "function_call"]
    assert response.output[0].encrypted_content == "gAAAAABencrypted-reasoning-blob=="
    assert response.output[1].content[0].annotations[0].url == "https://example.com/doc"
    assert response.output[1].content[0].logprobs[0].token == "native "
    rows = audit_rows(native.settings.database_url, wait_for=2)
    assert [(r["phase"], r["allow"], r["tool_calls"]) for r in rows[-2:]] == [
        ("request", True, []),
        ("response", True, ["get_weather"]),
    ]
    assert rows[-1]["provider"] == "native" and rows[-1]["upstream_model"] == "rich"


def _raw_events(gw: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
    headers = {"authorization": f"Bearer {gw.key}"}
    with httpx.stream("POST", f"{gw.url}/v1/responses", json=body, headers=headers, timeout=30) as answer:
        lines = [line for line in answer.iter_lines() if line.startswith("data:")]
    return [json.loads(line[5:]) for line in lines]


def _kinds(types: list[str]) -> list[str]:
    """Event types, a run of text deltas (answer or reasoning summary) as one."""
    texts = ("response.output_text.delta", "response.reasoning_summary_text.delta")
    return [t for i, t in enumerate(types) if not (t in texts and types[i - 1] == t)]


def test_a_stream_relays_every_event_type_of_the_provider(native, native_upstream):
    upstream = native_upstream[0]
    with client(native).responses.stream(model="nat-rich", input="call the weather", tools=[WEATHER]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    sent = stream_events(upstream.sent[-1])
    # the PII look-behind may cut the text into other deltas; every other event is the provider's, in its order
    assert _kinds([e.type for e in events]) == _kinds([e["type"] for e in sent])
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert [item.id for item in final.output] == [item["id"] for item in upstream.sent[-1]["output"]]
    body = {"model": "nat-rich", "input": "call the weather", "tools": [WEATHER], "stream": True}
    raw = _raw_events(native, body)  # the SDK adds parsed fields to what it hands over: compare the JSON itself
    assert raw[-1]["response"] == _as_agent_sees(upstream.sent[-1], "nat-rich")
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == final.output_text == "native says: call the weather"
    assert upstream.received[-1]["stream"] is True
    rows = audit_rows(native.settings.database_url, wait_for=2)
    assert (rows[-1]["phase"], rows[-1]["allow"], rows[-1]["tool_calls"]) == ("response", True, ["get_weather"])


@pytest.mark.parametrize("stream", [False, True])
def test_a_function_call_the_policy_denies_never_reaches_the_agent(native, stream):
    api = client(native)
    if not stream:
        with pytest.raises(openai.PermissionDeniedError, match="transfer_funds") as err:
            api.responses.create(model="nat-tool", input="pay", tools=[TRANSFER])
        assert err.value.body["code"] == "policy_denied"
    else:
        seen: list[Any] = []
        with pytest.raises(openai.APIError, match="transfer_funds"):
            with api.responses.stream(model="nat-tool", input="pay", tools=[TRANSFER]) as events:
                seen.extend(events)
        assert not any("function_call" in e.type or getattr(e, "item", None) for e in seen)
    rows = audit_rows(native.settings.database_url, wait_for=2)
    last = rows[-1]
    assert (last["phase"], last["allow"], last["tool_calls"]) == ("response", False, ["transfer_funds"])


@pytest.mark.parametrize("stream", [False, True])
def test_pii_is_redacted_in_what_goes_up_and_in_what_comes_back(native, native_upstream, stream):
    upstream = native_upstream[0]
    api = client(native)
    asked = "mail jane.doe@example.com please"
    if stream:
        with api.responses.stream(model="nat-leak", input=asked) as events:
            deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
            response = events.get_final_response()
        assert deltas == response.output_text
    else:
        response = api.responses.create(model="nat-leak", input=asked)
    assert upstream.received[-1]["input"] == "mail <EMAIL_ADDRESS> please"
    text = response.output_text
    assert "ops@leaky-corp.com" not in text and "<EMAIL_ADDRESS>" in text and text.startswith("native says: mail")
    assert response.output[0].content[0].logprobs == []  # they would spell out what the redaction removed
    kept = api.responses.retrieve(response.id)
    assert kept.output_text == text
    rows = audit_rows(native.settings.database_url, wait_for=4)
    redacted = [r for r in rows if r["event"] == "redacted"]
    assert {r["phase"] for r in redacted} == {"request", "response"}


def test_a_hosted_tool_the_policy_does_not_name_never_reaches_the_provider(native, native_upstream):
    upstream = native_upstream[0]
    answer = client(native).responses.create(model="nat-rich", input="search", tools=[{"type": "web_search"}])
    assert answer.output_text  # the agent still gets its answer
    assert upstream.received[-1]["tools"] == []  # the model never saw it
    rows = [r for r in audit_rows(native.settings.database_url, wait_for=2) if r["phase"] == "request"]
    assert rows[-1]["event"] == "decision" and rows[-1]["allow"]
    assert any("hosted tool 'web_search' removed from the call" in reason for reason in rows[-1]["reasons"])


def test_a_hosted_tool_the_policy_names_runs_on_a_native_route_and_its_call_is_audited(hosted, native_upstream):
    upstream = native_upstream[0]
    tools = [{"type": "web_search", "search_context_size": "low"}]
    raw = client(hosted).responses.with_raw_response.create(model="nat-rich", input="weather?", tools=tools)
    assert upstream.received[-1]["tools"] == tools
    assert raw.http_response.json() == _as_agent_sees(upstream.sent[-1], "nat-rich")
    call = raw.parse().output[1]
    assert call.type == "web_search_call" and call.action.query == "weather in Paris"
    rows = audit_rows(hosted.settings.database_url, wait_for=2)
    assert rows[-1]["tool_calls"] == ["web_search"]


def test_a_hosted_tool_needs_a_native_route(hosted):
    for route in ("gpt", "mixed"):  # a translated route, and a native one with a translated fallback
        with pytest.raises(openai.BadRequestError, match="responses: native") as err:
            client(hosted).responses.create(model=route, input="search", tools=[{"type": "web_search"}])
        assert err.value.body["param"] == "tools[0]"


def test_items_only_a_native_route_carries_are_refused_on_a_translated_route(native):
    item = {"type": "item_reference", "id": "msg_123"}
    with pytest.raises(openai.BadRequestError, match="item_reference") as err:
        client(native).responses.create(model="gpt", input=[item, {"role": "user", "content": "hi"}])
    assert err.value.body["param"] == "input[0].type"


def test_previous_response_id_continues_the_kept_conversation_natively(native, native_upstream):
    upstream = native_upstream[0]
    api = client(native)
    first = api.responses.create(model="nat", input="one")
    second = api.responses.create(model="nat", previous_response_id=first.id, input="two")
    sent = upstream.received[-1]
    assert "previous_response_id" not in sent
    assert sent["input"] == [
        {"role": "user", "content": "one"},
        *upstream.sent[-2]["output"],
        {"role": "user", "content": "two"},
    ]
    assert second.previous_response_id == first.id and second.output_text == "native says: two"
    assert api.responses.retrieve(second.id).previous_response_id == first.id
    other = openai.OpenAI(base_url=f"{native.url}/v1", api_key=create_key(native.settings.database_url, "other-bot"))
    with pytest.raises(openai.BadRequestError, match="not found"):  # another agent's conversation is not there
        track(other).with_options(max_retries=0).responses.create(
            model="nat", previous_response_id=first.id, input="three"
        )
    assert upstream.received[-1] == sent


# Documented edits: the gateway refuses these (it cannot carry them out as governed) ...
REFUSED = {
    "background": True,  # the answer would be fetched later from the provider, past the response stages
    "conversation": "conv_123",  # the provider's conversation state, which the gateway never sees
    "prompt": {"id": "pmpt_123"},  # a template kept at the provider: text the gateway cannot inspect
}
# ... and expands this one into the whole conversation it keeps
EXPANDED = ("previous_response_id",)
SAMPLES: dict[str, Any] = {
    "access_programs": {"cyber": "standard"},
    "background_options": {"completion_window": "soonest"},
    "context_management": [{"type": "compaction", "compact_threshold": 1000}],
    "image": {"context_compression": "auto"},
    "include": ["reasoning.encrypted_content", "message.output_text.logprobs", "web_search_call.action.sources"],
    "input": [
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Look at this picture"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
                {"type": "input_file", "filename": "notes.txt", "file_data": "data:text/plain;base64,aGk="},
            ],
        },
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAAABblob=="},
        {
            "type": "message",
            "role": "assistant",
            "id": "msg_1",
            "status": "completed",
            "content": [{"type": "output_text", "text": "A cat.", "annotations": []}],
        },
        {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "cats"}},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Oslo"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "cold"},
        {"role": "developer", "content": "Prefer short answers."},
    ],
    "instructions": "Answer briefly.",
    "max_output_tokens": 500,
    "max_tool_calls": 3,
    "metadata": {"ticket": "alpha"},
    "moderation": {"model": "omni-moderation-latest"},
    "parallel_tool_calls": False,
    "prompt_cache_key": "cache-key-1",
    "prompt_cache_options": {"mode": "implicit", "ttl": "30m"},
    "prompt_cache_retention": "24h",
    "reasoning": {"effort": "low", "summary": "auto"},
    "safety_identifier": "sid-abc",
    "service_tier": "flex",
    "store": True,
    "stream_options": {"include_obfuscation": False},
    "temperature": 0.3,
    "text": {
        "format": {"type": "json_schema", "name": "answer", "schema": {"type": "object"}, "strict": True},
        "verbosity": "low",
    },
    "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "get_weather"}]},
    "tools": [
        WEATHER,
        {"type": "web_search", "user_location": {"type": "approximate", "country": "NO"}},
        {"type": "file_search", "vector_store_ids": ["vs_1"], "max_num_results": 3},
        {"type": "code_interpreter", "container": {"type": "auto"}},
        {
            "type": "mcp",
            "server_label": "deepwiki",
            "server_url": "https://mcp.deepwiki.test",
            "require_approval": "never",
        },
    ],
    "top_logprobs": 2,
    "top_p": 0.9,
    "truncation": "auto",
    "user": "agent-user-7",
}


def test_every_documented_request_field_reaches_a_native_provider(hosted, native_upstream):
    from openai.types.responses import response_create_params as params

    upstream = native_upstream[0]
    fields = params.ResponseCreateParamsBase.__required_keys__ | params.ResponseCreateParamsBase.__optional_keys__
    missing = sorted(fields - set(SAMPLES) - set(REFUSED) - set(EXPANDED) - {"model"})
    assert not missing, f"new Responses fields without a sample: {missing}"
    api = client(hosted)
    first = api.responses.create(model="nat", input="first turn")
    answer = api.responses.create(model="nat", previous_response_id=first.id, **SAMPLES)
    expected = {**SAMPLES, "model": "plain"}
    expected["input"] = [{"role": "user", "content": "first turn"}, *upstream.sent[-2]["output"], *SAMPLES["input"]]
    assert upstream.received[-1] == expected
    assert answer.previous_response_id == first.id
    for name, value in REFUSED.items():
        with pytest.raises(openai.BadRequestError, match=name):
            api.responses.create(model="nat", input="hi", **{name: value})


def test_a_translated_route_is_unchanged_by_the_native_kind(native, openai_upstream):
    response = client(native).responses.create(model="gpt", input="hello")
    assert response.output_text == "openai says: hello" and response.model == "gpt"
    assert openai_upstream[0].received[-1]["messages"] == [{"role": "user", "content": "hello"}]


def test_native_needs_an_openai_provider():
    from gateway.settings import ProviderConfig

    with pytest.raises(ValueError, match="responses: native"):
        ProviderConfig.model_validate({"kind": "anthropic", "base_url": "http://x", "responses": "native"})


@pytest.mark.opa
def test_both_engines_name_the_same_hosted_tools(tmp_path):
    from tests.test_policy_engines import _differences, generated_inputs, running_opa

    offered = [[], ["web_search"], ["code_interpreter", "web_search", "mcp:deepwiki"]]
    inputs = [
        {**doc, "call": {**doc["call"], "operation": "responses", "hosted_tools": offered[i % len(offered)]}}
        for i, doc in enumerate(generated_inputs())
        if doc["call"]["kind"] == "model"
    ]
    with running_opa() as opa:
        for policy_dir in (POLICIES, Path(_policies(tmp_path, ["web_search", "mcp:deepwiki"]))):
            diffs, decisions = asyncio.run(_differences(policy_dir, opa.url, inputs))
            assert not diffs, "\n".join(diffs[:5])
            named = {json.dumps(json.loads(d)["hosted_tools"]) for d in decisions}
            expected = {"[]"} if policy_dir == POLICIES else {"[]", '["web_search"]', '["mcp:deepwiki", "web_search"]'}
            assert named == expected


def test_the_hosted_tools_of_a_decision_are_validated_strictly():
    from gateway.enforcement import Capabilities, plan, unallowed_hosted
    from gateway.model import Decision

    base = {"allow": True, "reasons": [], "hold": None, "redact": [], "route": None}
    malformed = Decision.from_document({**base, "hosted_tools": "web_search"}, phase="request", policy_version="v")
    assert not malformed.allow and malformed.error == "policy_error"
    missing = plan(Decision.from_document(base, phase="request", policy_version="v"), Capabilities())
    assert unallowed_hosted(["web_search"], missing) == ["web_search"]
    named = Decision.from_document({**base, "hosted_tools": ["web_search"]}, phase="request", policy_version="v")
    assert unallowed_hosted(["web_search", "mcp:x"], plan(named, Capabilities())) == ["mcp:x"]


@pytest.mark.parametrize("stream", [False, True])
def test_a_function_call_the_policy_holds_reaches_the_agent_once_approved(
    gateway_factory, sqlite_url, native_upstream, openai_upstream, tmp_path, stream
):
    from tests.hold.reviewer import decide, payload, pending
    from tests.hold.test_hold import HOLDS, finished, in_background

    (tmp_path / "policy.rego").write_text(HOLDS)
    gw = _start(gateway_factory, sqlite_url, native_upstream[1], openai_upstream[1], str(tmp_path))

    def call() -> str:
        api = client(gw).with_options(timeout=30)
        if not stream:
            return str(api.responses.create(model="nat-tool", input="pay", tools=[TRANSFER]).output[0].arguments)
        with api.responses.stream(model="nat-tool", input="pay", tools=[TRANSFER]) as events:
            return str(events.get_final_response().output[0].arguments)

    out = in_background(call)
    (approval,) = pending(gw.settings)
    assert (approval.phase, approval.tool_calls) == ("response", ["transfer_funds"])
    assert payload(gw.settings, approval.approval_id)["action"]["tool_calls"][0]["arguments"] == {"amount": 5000}
    decide(gw.settings, approval.approval_id, "approve")
    assert json.loads(finished(out)) == {"amount": 5000}


@pytest.mark.parametrize("stream", [False, True])
def test_what_a_native_route_answers_matches_the_schema_after_the_gateways_edits(hosted, stream):
    from openai.types.responses import Response, ResponseStreamEvent

    from tests.schema import assert_valid, problems

    tools = [WEATHER, {"type": "web_search"}]
    body = {"model": "nat-rich-leak", "input": "call the weather for jane.doe@example.com", "tools": tools}
    if not stream:
        answer = httpx.post(f"{hosted.url}/v1/responses", json=body, headers={"authorization": f"Bearer {hosted.key}"})
        assert answer.status_code == 200, answer.text
        assert_valid(answer.json(), Response)
        return
    events = _raw_events(hosted, {**body, "stream": True})
    for event in events:
        found = problems(event, ResponseStreamEvent)
        assert not found, f"{event['type']}: " + "\n".join(found[:10])
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert "<EMAIL_ADDRESS>" in text and "leaky-corp" not in json.dumps(events)


HOSTED_TOOLS = [
    {"type": "file_search", "vector_store_ids": ["vs_1"]},
    {"type": "mcp", "server_label": "deepwiki", "server_url": "https://mcp.example/mcp", "require_approval": "never"},
]


@pytest.mark.parametrize("stream", [False, True])
def test_personal_data_in_reasoning_summaries_and_hosted_tool_results_is_taken_out(hosted, native_upstream, stream):
    """The default policy keeps what the model emits out of the answer beside the text too: the reasoning summary
    (streamed in pieces that split the values) and the results of hosted tools, with the card and the address the
    caller never sent."""
    api = client(hosted)
    if stream:
        with api.responses.stream(model="nat-rich-leak", input="who owns it?", tools=HOSTED_TOOLS) as events:
            seen = list(events)
            response = events.get_final_response()
        summary = "".join(e.delta for e in seen if e.type == "response.reasoning_summary_text.delta")
        done = [e.text for e in seen if e.type == "response.reasoning_summary_text.done"]
        assert done == [summary]
        wire = json.dumps([e.model_dump(mode="json", warnings=False) for e in seen])
    else:
        response = api.responses.create(model="nat-rich-leak", input="who owns it?", tools=HOSTED_TOOLS)
        summary = response.output[0].summary[0].text
        wire = response.model_dump_json()
    assert summary.startswith("Thinking about it. Write to <EMAIL_ADDRESS>, card <CREDIT_CARD>")
    items = {item.type: item for item in response.output}
    assert items["reasoning"].summary[0].text == summary
    assert items["file_search_call"].results[0].text == "Owner: <EMAIL_ADDRESS>"
    assert items["mcp_call"].output == "card on file: <CREDIT_CARD>"
    assert "leaky-corp" not in wire and "4111 1111" not in wire
    assert api.responses.retrieve(response.id).output[0].summary[0].text == summary  # kept as the agent got it
    rows = audit_rows(hosted.settings.database_url, wait_for=3)
    wheres = {f["where"] for r in rows if r["event"] == "redacted" and r["phase"] == "response" for f in r["pii"]}
    assert {"reasoning", "tool_result"} <= wheres


def test_a_response_decision_redacts_reasoning_summaries_of_a_whole_answer(
    gateway_factory, sqlite_url, native_upstream, tmp_path
):
    """A response-phase `redact` that names more than the request decision let the stages take out as it came
    (here: every type, the caller's own address too) is applied to the reasoning summary of a whole answer."""
    policy = tmp_path / "p"
    policy.mkdir()
    (policy / "policy.rego").write_text(
        "package gateway\n\nimport rego.v1\n\n"
        'decision := {"allow": true, "reasons": [], "hold": null, "route": null, "redact": redact}\n\n'
        "default redact := []\n\n"
        'redact := [p.type | some p in input.pii] if input.call.phase == "response"\n'
    )
    providers = {"native": {"kind": "openai", "base_url": f"{native_upstream[1]}/v1", "responses": "native"}}
    routes = {"nat-rich-leak": {"provider": "native", "model": "rich-leak"}}
    gw = gateway_factory(
        sqlite_url, providers=providers, routes=routes, policy={"dir": str(policy), "timeout_ms": 2000}
    )
    response = client(gw).responses.create(model="nat-rich-leak", input="hi")
    summary = response.output[0].summary[0].text
    assert "leaky-corp" not in summary and "<EMAIL_ADDRESS>" in summary
