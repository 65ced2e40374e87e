"""The official openai SDK as the agent, against the gateway over HTTP."""

from __future__ import annotations

import json
import re

import httpx
import openai
import pytest

from tests.helpers import audit_rows, track

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def client(gw, key: str | None = None) -> openai.OpenAI:
    return track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key or gw.key, max_retries=0))


def test_plain_completion_through_openai_provider(gateway, openai_upstream):
    reply = client(gateway).chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hello"}])
    assert reply.choices[0].message.content == "openai says: hello"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.prompt_tokens == 11 and reply.usage.completion_tokens == 7
    assert openai_upstream[0].received[-1]["model"] == "gpt-test"  # alias resolved to the provider's model
    rows = audit_rows(gateway.settings.database_url, wait_for=2)
    assert [(r["phase"], r["allow"]) for r in rows] == [("request", True), ("response", True)]
    assert rows[1]["agent"] == "support-bot" and rows[1]["team"] == "cs" and rows[1]["provider"] == "oai"
    assert rows[1]["upstream_model"] == "gpt-test" and rows[1]["upstream_status"] == 200
    assert rows[1]["input_tokens"] == 11 and rows[1]["output_tokens"] == 7
    assert {"authenticate", "forward", "decide"} <= set(rows[1]["latency_ms"])
    assert rows[0]["policy_version"] and rows[0]["surface"] == "openai" and rows[0]["target"] == "gpt"


def test_streaming_completion(gateway):
    stream = client(gateway).chat.completions.create(
        model="gpt",
        messages=[{"role": "user", "content": "stream me"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() == "openai says: stream me"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.completion_tokens == 7
    rows = audit_rows(gateway.settings.database_url, wait_for=2)
    assert rows[-1]["phase"] == "response" and rows[-1]["output_tokens"] == 7


def test_tool_call_round_trip(gateway):
    c = client(gateway)
    messages = [{"role": "user", "content": "weather in Paris?"}]
    first = c.chat.completions.create(model="gpt-tool", messages=messages, tools=TOOLS)
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and json.loads(call.function.arguments)["city"] == "Paris"
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    second = c.chat.completions.create(model="gpt", messages=messages, tools=TOOLS)
    assert second.choices[0].message.content == "openai says: weather in Paris?"


def test_streamed_tool_call_is_reassembled(gateway):
    stream = client(gateway).chat.completions.create(
        model="gpt-tool", messages=[{"role": "user", "content": "go"}], tools=TOOLS, stream=True
    )
    args, names = "", []
    for chunk in stream:
        for tc in chunk.choices[0].delta.tool_calls or []:
            args += tc.function.arguments or ""
            if tc.function.name:
                names.append(tc.function.name)
    assert names == ["get_weather"] and json.loads(args) == {"city": "Paris", "amount": 5000}


def test_risky_tool_call_from_model_is_denied_and_audited(gateway):
    with pytest.raises(openai.PermissionDeniedError) as info:
        client(gateway).chat.completions.create(
            model="gpt-tool", messages=[{"role": "user", "content": "call transfer_funds"}], tools=TOOLS
        )
    error = info.value.body
    assert error["code"] == "policy_denied"
    assert error["reasons"] == ["tool 'transfer_funds' is on the risky tools list"]
    assert info.value.response.headers["x-gateway-decision-id"] == error["decision_id"]
    rows = audit_rows(gateway.settings.database_url, wait_for=2)
    assert rows[-1]["phase"] == "response" and rows[-1]["allow"] is False
    assert rows[-1]["tool_calls"] == ["transfer_funds"] and rows[-1]["decision_id"] == error["decision_id"]


def test_risky_tool_call_in_a_stream_is_a_403_before_anything_is_streamed(gateway):
    # the denial comes before any content, so the status line can still say so (not a 200 and an error event)
    with pytest.raises(openai.PermissionDeniedError) as info:
        client(gateway).chat.completions.create(
            model="gpt-tool", messages=[{"role": "user", "content": "call transfer_funds"}], tools=TOOLS, stream=True
        )
    assert "risky tools list" in str(info.value)
    decision_id = info.value.response.headers["x-gateway-decision-id"]
    assert info.value.body["decision_id"] == decision_id
    rows = audit_rows(gateway.settings.database_url, wait_for=2)
    assert rows[-1]["phase"] == "response" and rows[-1]["allow"] is False


def test_unknown_model_is_denied_by_policy_and_never_forwarded(gateway, openai_upstream):
    before = len(openai_upstream[0].received)
    with pytest.raises(openai.PermissionDeniedError) as info:
        client(gateway).chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    assert info.value.body["reasons"] == ["model 'gpt-9' is not a configured route"]
    assert len(openai_upstream[0].received) == before
    rows = audit_rows(gateway.settings.database_url, wait_for=1)
    assert rows[-1]["allow"] is False and rows[-1]["provider"] is None


@pytest.mark.parametrize("key", [None, "agk_nope"])
def test_missing_or_unknown_key_is_401_and_audited(gateway, key):
    headers = {"authorization": f"Bearer {key}"} if key else {}
    r = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        headers=headers,
        json={"model": "gpt", "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key" and r.json()["error"]["type"] == "authentication_error"
    with pytest.raises(openai.AuthenticationError):
        client(gateway, key="agk_wrong").chat.completions.create(
            model="gpt", messages=[{"role": "user", "content": "x"}]
        )
    rows = audit_rows(gateway.settings.database_url, wait_for=2)
    assert rows[-1]["allow"] is False and rows[-1]["error_code"] == "invalid_api_key"


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"model": "gpt"}',
        b'{"model": "gpt", "messages": "hi"}',
        b'{"model": "gpt", "messages": [{"role": "wizard", "content": "x"}]}',
    ],
)
def test_malformed_request_gets_openai_400(gateway, body):
    r = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        content=body,
        headers={"authorization": f"Bearer {gateway.key}", "content-type": "application/json"},
    )
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_request" and error["message"]


def test_models_lists_routes_the_policy_allows(gateway):
    models = [m.id for m in client(gateway).models.list()]
    assert "gpt" in models and "claude" in models and "echo" in models


# a policy that denies one route and holds another for sign-off
HOLD_AND_DENY = """package gateway

import rego.v1

default hold := null

hold := {"reason": "needs sign-off", "approvers": "finance"} if input.call.target == "gpt"

decision := {"allow": input.call.target != "claude", "reasons": [], "hold": hold, "redact": [], "route": null}
"""


def test_models_omits_what_the_policy_denies_and_keeps_what_it_would_hold(gateway_factory, sqlite_url, tmp_path):
    (tmp_path / "policy.rego").write_text(HOLD_AND_DENY)
    gw = gateway_factory(sqlite_url, policy={"dir": str(tmp_path), "timeout_ms": 2000}, approvals={"enabled": False})
    models = [m.id for m in client(gw).models.list()]
    assert "claude" not in models
    assert "gpt" in models and "echo" in models  # a hold is an allow subject to sign-off: the agent may call it
    # this gateway has no approval queue, so the held route is denied when called, saying why
    with pytest.raises(openai.PermissionDeniedError) as info:
        client(gw).chat.completions.create(model="gpt", messages=[{"role": "user", "content": "x"}])
    assert info.value.body["reasons"] == ["approval required (needs sign-off) but this gateway has no approval queue"]
    row = audit_rows(sqlite_url, wait_for=1)[-1]
    assert (row["target"], row["allow"], row["error_code"]) == ("gpt", False, "policy_denied")


def test_echo_demo_upstream(gateway):
    reply = client(gateway).chat.completions.create(model="echo", messages=[{"role": "user", "content": "ping"}])
    assert reply.choices[0].message.content == "echo: ping"


def test_provider_keys_are_sent_as_configured(gateway, openai_upstream, monkeypatch):
    monkeypatch.setenv("TEST_OAI_KEY", "sk-upstream")
    monkeypatch.setenv("TEST_AZURE_KEY", "azure-secret")
    c = client(gateway)
    c.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "a"}])
    assert openai_upstream[0].headers[-1]["authorization"] == "Bearer sk-upstream"  # not the agent's gateway key
    c.chat.completions.create(model="azure-gpt", messages=[{"role": "user", "content": "b"}])
    assert openai_upstream[0].headers[-1]["api-key"] == "azure-secret"
    assert "authorization" not in openai_upstream[0].headers[-1]
    assert openai_upstream[0].queries[-1] == "api-version=2024-10-21"
    assert openai_upstream[0].received[-1]["model"] == "my-deployment"


@pytest.mark.parametrize("stream", [False, True])
def test_a_bug_is_an_audited_500_in_the_protocols_shape(gateway, monkeypatch, stream):
    async def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(
        "gateway.stages.forward.forward_stream" if stream else "gateway.stages.forward.forward_chat", broken
    )
    with pytest.raises(openai.InternalServerError) as info:
        client(gateway).chat.completions.create(model="gpt", messages=[{"role": "user", "content": "x"}], stream=stream)
    assert info.value.body["code"] == "internal_error" and "see the gateway log" in info.value.body["message"]
    rows = audit_rows(gateway.settings.database_url, wait_for=1)
    assert rows[-1]["error_code"] == "internal_error"


def test_end_user_from_header_or_body_reaches_policy_and_audit(gateway):
    c = client(gateway)
    c.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "x"}], user="u-body")
    c.chat.completions.create(
        model="gpt",
        messages=[{"role": "user", "content": "x"}],
        user="u-body",
        extra_headers={"x-end-user": "u-header"},
    )
    rows = audit_rows(gateway.settings.database_url, wait_for=4)
    assert [r["end_user"] for r in rows] == ["u-body", "u-body", "u-header", "u-header"]


def test_metrics_count_calls_and_decisions(gateway):
    client(gateway).chat.completions.create(model="gpt", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.PermissionDeniedError):
        client(gateway).chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    text = httpx.get(f"{gateway.url}/metrics").text
    assert 'gateway_requests_total{outcome="ok",surface="openai"} 1.0' in text
    assert 'gateway_requests_total{outcome="policy_denied",surface="openai"} 1.0' in text
    assert 'gateway_decisions_total{allow="false",error="",phase="request"} 1.0' in text
    tasks = re.search(r"^gateway_event_loop_tasks (\S+)$", text, re.M)
    assert tasks and float(tasks.group(1)) >= 1  # at least the scrape itself


def test_fields_the_gateway_does_not_model_pass_through_to_the_same_format(
    gateway, openai_upstream, anthropic_upstream
):
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    c = client(gateway)
    c.chat.completions.create(
        model="gpt",
        messages=[{"role": "user", "content": "a"}],
        seed=7,
        response_format=schema,
        max_completion_tokens=33,
    )
    sent = openai_upstream[0].received[-1]
    assert sent["seed"] == 7 and sent["response_format"] == schema
    assert sent["max_completion_tokens"] == 33 and "max_tokens" not in sent
    c.chat.completions.create(model="claude", messages=[{"role": "user", "content": "b"}], seed=7)
    assert "seed" not in anthropic_upstream[0].received[-1]  # another format cannot take it


def test_oversized_body_is_413_and_audited(gateway_factory, sqlite_url):
    gw = gateway_factory(sqlite_url, max_request_bytes=2000)
    body = {"model": "echo", "messages": [{"role": "user", "content": "x" * 5000}]}
    r = httpx.post(f"{gw.url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {gw.key}"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    rows = audit_rows(sqlite_url, wait_for=1)
    assert rows[-1]["error_code"] == "request_too_large" and rows[-1]["agent"] == "support-bot"


def test_echo_demo_tool_calls_meet_the_policy(gateway):
    tools = [
        {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
        for n in ("get_weather", "transfer_funds")
    ]
    c = client(gateway)
    reply = c.chat.completions.create(
        model="echo", tools=tools, messages=[{"role": "user", "content": '/tool get_weather {"city": "Oslo"}'}]
    )
    call = reply.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Oslo"}
    with pytest.raises(openai.PermissionDeniedError):
        c.chat.completions.create(
            model="echo", tools=tools, messages=[{"role": "user", "content": "/tool transfer_funds {}"}]
        )


# every field of the SDK's Chat Completions request (a generated list): what the provider must receive unchanged
SAMPLES = {
    "audio": {"voice": "alloy", "format": "wav"},
    "frequency_penalty": 0.5,
    "function_call": "auto",
    "functions": [{"name": "legacy", "parameters": {"type": "object", "properties": {}}}],
    "logit_bias": {"50256": -100},
    "logprobs": True,
    "max_completion_tokens": 64,
    "messages": [
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": "hi", "name": "ada"},
        {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
    ],
    "metadata": {"k": "v"},
    "modalities": ["text"],
    "moderation": {"mode": "block"},
    "n": 1,
    "parallel_tool_calls": False,
    "prediction": {"type": "content", "content": "hi"},
    "presence_penalty": 0.1,
    "prompt_cache_key": "pk",
    "prompt_cache_options": {"mode": "auto"},
    "prompt_cache_retention": "24h",
    "reasoning_effort": "low",
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "x", "schema": {"type": "object"}, "strict": True},
    },
    "safety_identifier": "sid",
    "seed": 7,
    "service_tier": "auto",
    "stop": ["END"],
    "store": False,
    "temperature": 0.2,
    "tool_choice": {
        "type": "allowed_tools",
        "allowed_tools": {"mode": "auto", "tools": [{"type": "function", "function": {"name": "f"}}]},
    },
    "tools": [
        {
            "type": "function",
            "function": {"name": "f", "parameters": {"type": "object", "properties": {}}, "strict": True},
        },
        {"type": "function", "function": {"name": "g", "description": "G", "parameters": {"type": "object"}}},
    ],
    "top_logprobs": 2,
    "top_p": 0.9,
    "user": "end-user-1",
    "verbosity": "low",
    "web_search_options": {"search_context_size": "low"},
}
NOT_SENT_AS_IS = {
    "model": "the gateway's edit: the alias becomes the provider's model",
    "max_tokens": "replaced by max_completion_tokens when both are sent (newer models refuse max_tokens)",
    "stream_options": "streaming only; the gateway asks for usage itself (tested with streams)",
}


def test_every_chat_completions_field_reaches_an_openai_provider_unchanged(gateway, openai_upstream):
    from openai.types.chat import completion_create_params as params

    fields = params.CompletionCreateParamsBase.__required_keys__ | params.CompletionCreateParamsBase.__optional_keys__
    missing = sorted(fields - set(SAMPLES) - set(NOT_SENT_AS_IS))
    assert not missing, f"new Chat Completions fields without a sample: {missing}"
    body = {"model": "gpt", **SAMPLES}
    answer = httpx.post(
        f"{gateway.url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {gateway.key}"}
    )
    assert answer.status_code == 200, answer.text
    assert openai_upstream[0].received[-1] == {**body, "model": "gpt-test"}
    plain = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 9}
    httpx.post(f"{gateway.url}/v1/chat/completions", json=plain, headers={"authorization": f"Bearer {gateway.key}"})
    assert openai_upstream[0].received[-1] == {**plain, "model": "gpt-test"}


def test_get_one_model_carries_the_decision_id_of_its_route(gateway):
    raw = client(gateway).models.with_raw_response.retrieve("gpt")
    assert raw.parse().id == "gpt" and len(raw.headers["x-gateway-decision-id"]) == 32
    with pytest.raises(openai.NotFoundError):
        client(gateway).models.retrieve("gpt-9")  # a route the policy does not allow is not there


def test_upstream_logprobs_reach_the_agent_on_an_openai_route(gateway):
    from tests.upstreams import LOGPROBS

    answer = client(gateway).chat.completions.create(
        model="gpt", messages=[{"role": "user", "content": "hi"}], logprobs=True
    )
    assert answer.choices[0].logprobs.model_dump() == LOGPROBS


def test_logprobs_are_dropped_when_a_redaction_changed_the_text(gateway):
    answer = client(gateway).chat.completions.create(
        model="gpt-leak", messages=[{"role": "user", "content": "mail jane.doe@example.com"}], logprobs=True
    )
    assert "ops@leaky-corp.com" not in answer.choices[0].message.content  # the policy redacted the answer
    assert answer.choices[0].logprobs is None  # they would spell out what the redaction removed
