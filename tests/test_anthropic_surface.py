"""The official anthropic SDK as the agent; Anthropic <-> OpenAI translation both ways."""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest

from tests.helpers import audit_rows, track

TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]


def client(gw, key: str | None = None) -> anthropic.Anthropic:
    return track(anthropic.Anthropic(base_url=gw.url, api_key=key or gw.key, max_retries=0))


def test_message_through_anthropic_provider(gateway, anthropic_upstream):
    reply = client(gateway).messages.create(
        model="claude", max_tokens=50, system="be brief", messages=[{"role": "user", "content": "hello"}]
    )
    assert reply.content[0].text == "anthropic says: hello"
    assert reply.stop_reason == "end_turn" and reply.usage.input_tokens == 13
    sent = anthropic_upstream[0].received[-1]
    assert sent["model"] == "claude-test" and sent["system"] == "be brief"


def test_anthropic_agent_on_an_openai_provider(gateway, openai_upstream):
    reply = client(gateway).messages.create(
        model="gpt", max_tokens=50, system="sys", messages=[{"role": "user", "content": "translate me"}]
    )
    assert reply.content[0].text == "openai says: translate me"
    assert reply.usage.input_tokens == 11 and reply.usage.output_tokens == 7
    sent = openai_upstream[0].received[-1]
    assert sent["messages"][0] == {"role": "system", "content": "sys"}
    assert sent["max_tokens"] == 50


def test_openai_agent_on_an_anthropic_provider_with_tools(gateway, anthropic_upstream):
    oai = track(openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=gateway.key, max_retries=0))
    tools = [{"type": "function", "function": {"name": t["name"], "parameters": t["input_schema"]}} for t in TOOLS]
    first = oai.chat.completions.create(
        model="claude-tool", messages=[{"role": "user", "content": "weather?"}], tools=tools
    )
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    assert call.id == "toolu_up1"
    sent = anthropic_upstream[0].received[-1]
    assert sent["tools"][0]["input_schema"]["properties"]["city"]["type"] == "string"
    messages = [
        {"role": "user", "content": "weather?"},
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    oai.chat.completions.create(model="claude", messages=messages, tools=tools)
    sent = anthropic_upstream[0].received[-1]["messages"]
    assert sent[1]["content"][0]["type"] == "tool_use" and sent[1]["content"][0]["input"]["city"] == "Paris"
    assert sent[2]["content"][0] == {"type": "tool_result", "tool_use_id": "toolu_up1", "content": "sunny"}


def test_anthropic_tool_round_trip_on_openai_provider(gateway, openai_upstream):
    c = client(gateway)
    first = c.messages.create(
        model="gpt-tool", max_tokens=50, tools=TOOLS, messages=[{"role": "user", "content": "weather?"}]
    )
    block = first.content[0]
    assert first.stop_reason == "tool_use" and block.type == "tool_use" and block.input["city"] == "Paris"
    messages = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [block.model_dump()]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "sunny"}]},
    ]
    c.messages.create(model="gpt", max_tokens=50, tools=TOOLS, messages=messages)
    sent = openai_upstream[0].received[-1]["messages"]
    assert sent[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert sent[2] == {"role": "tool", "content": "sunny", "tool_call_id": block.id}


@pytest.mark.parametrize("model", ["claude", "gpt"])
def test_streaming_both_providers(gateway, model):
    with client(gateway).messages.stream(
        model=model, max_tokens=50, messages=[{"role": "user", "content": "hi there"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.strip().endswith("says: hi there")
    assert final.stop_reason == "end_turn" and final.usage.output_tokens in (5, 7)


@pytest.mark.parametrize("model", ["claude-tool", "gpt-tool"])
def test_streamed_tool_use_both_providers(gateway, model):
    with client(gateway).messages.stream(
        model=model, max_tokens=50, tools=TOOLS, messages=[{"role": "user", "content": "weather?"}]
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[-1].type == "tool_use" and final.content[-1].input == {"city": "Paris", "amount": 5000}


def test_openai_agent_streams_from_anthropic_provider(gateway):
    oai = track(openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=gateway.key, max_retries=0))
    chunks = list(
        oai.chat.completions.create(model="claude", messages=[{"role": "user", "content": "yo"}], stream=True)
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks).strip() == "anthropic says: yo"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_denied_call_gets_anthropic_permission_error(gateway):
    with pytest.raises(anthropic.PermissionDeniedError) as info:
        client(gateway).messages.create(
            model="claude-tool",
            max_tokens=50,
            tools=TOOLS,
            messages=[{"role": "user", "content": "call delete_records"}],
        )
    assert info.value.body["error"]["reasons"] == ["tool 'delete_records' is on the risky tools list"]
    assert info.value.body["type"] == "error"


def test_bad_key_gets_anthropic_authentication_error(gateway):
    with pytest.raises(anthropic.AuthenticationError):
        client(gateway, key="agk_wrong").messages.create(
            model="claude", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )


def test_malformed_request_gets_anthropic_400(gateway):
    r = httpx.post(
        f"{gateway.url}/v1/messages",
        headers={"x-api-key": gateway.key},
        json={"model": "claude", "messages": [{"role": "user", "content": "x"}]},
    )  # no max_tokens
    assert r.status_code == 400
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in r.json()["error"]["message"]
    rows = audit_rows(gateway.settings.database_url, wait_for=1)
    assert rows[-1]["error_code"] == "invalid_request" and rows[-1]["allow"] is False


def test_models_list_in_the_anthropic_shape(gateway):
    models = [m.id for m in client(gateway).models.list()]
    assert "claude" in models and "gpt" in models
    with pytest.raises(anthropic.AuthenticationError):
        client(gateway, key="agk_wrong").models.list()


def test_risky_tool_use_in_a_stream_becomes_an_error_event(gateway):
    seen_tool_use = False
    with pytest.raises(anthropic.APIStatusError) as info:
        with client(gateway).messages.stream(
            model="claude-tool", max_tokens=50, tools=TOOLS, messages=[{"role": "user", "content": "call send_wire"}]
        ) as stream:
            for event in stream:
                if event.type == "content_block_start" and event.content_block.type == "tool_use":
                    seen_tool_use = True
    assert not seen_tool_use
    assert "tool 'send_wire' is on the risky tools list" in str(info.value)


def test_anthropic_only_fields_reach_an_anthropic_provider(gateway, anthropic_upstream):
    client(gateway).messages.create(
        model="claude", max_tokens=20, extra_body={"top_k": 5}, messages=[{"role": "user", "content": "x"}]
    )
    assert anthropic_upstream[0].received[-1]["top_k"] == 5


PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def test_images_translate_both_ways(gateway, openai_upstream, anthropic_upstream):
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {"type": "text", "text": "what is this?"},
    ]
    client(gateway).messages.create(model="gpt", max_tokens=20, messages=[{"role": "user", "content": content}])
    parts = openai_upstream[0].received[-1]["messages"][0]["content"]
    assert {"type": "text", "text": "what is this?"} in parts
    assert {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}} in parts
    assert {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}} in parts
    client(gateway).messages.create(model="claude", max_tokens=20, messages=[{"role": "user", "content": content}])
    assert anthropic_upstream[0].received[-1]["messages"][0]["content"] == content


def test_openai_image_parts_reach_an_anthropic_provider(gateway, anthropic_upstream):
    oai = track(openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=gateway.key, max_retries=0))
    content = [
        {"type": "text", "text": "describe"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
    ]
    oai.chat.completions.create(model="claude", messages=[{"role": "user", "content": content}])
    blocks = anthropic_upstream[0].received[-1]["messages"][0]["content"]
    assert blocks[0] == {"type": "text", "text": "describe"}  # in the order the agent sent them
    assert blocks[1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}}


# every field of the SDK's Messages request (a generated list): what the provider must receive unchanged
MESSAGES_SAMPLES = {
    "cache_control": {"type": "ephemeral"},
    "container": "container_1",
    "diagnostics": {"enabled": True},
    "inference_geo": "us",
    "max_tokens": 1024,
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "weather?", "cache_control": {"type": "ephemeral"}}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "use the tool", "signature": "sig=="},
                {"type": "text", "text": "checking"},
                {"type": "tool_use", "id": "t1", "name": "weather", "input": {"city": "Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "content": "sunny",
                    "cache_control": {"type": "ephemeral"},
                },
                {"type": "text", "text": "and "},
                {"type": "text", "text": "tomorrow?"},
            ],
        },
    ],
    "metadata": {"user_id": "u-9"},
    "output_config": {"effort": "low"},
    "service_tier": "auto",
    "speed": "fast",
    "stop_sequences": ["END"],
    "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    "tools": [
        {"name": "weather", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}, "strict": True},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
    ],
    "user_profile_id": "profile-1",
    "workspace_id": "ws-1",
}


def test_every_messages_field_reaches_an_anthropic_provider_unchanged(gateway, anthropic_upstream):
    from anthropic.types import message_create_params as params

    fields = params.MessageCreateParamsBase.__required_keys__ | params.MessageCreateParamsBase.__optional_keys__
    missing = sorted(fields - set(MESSAGES_SAMPLES) - {"model"})
    assert not missing, f"new Messages fields without a sample: {missing}"
    body = {"model": "claude", **MESSAGES_SAMPLES}
    headers = {"x-api-key": gateway.key, "anthropic-version": "2023-06-01", "anthropic-beta": "context-1m-2025-08-07"}
    answer = httpx.post(f"{gateway.url}/v1/messages", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["request-id"] == answer.headers["x-request-id"]
    assert anthropic_upstream[0].received[-1] == {**body, "model": "claude-test"}
    assert anthropic_upstream[0].headers[-1]["anthropic-beta"] == "context-1m-2025-08-07"


def test_count_tokens_asks_an_anthropic_provider_or_estimates(gateway):
    api = track(anthropic.Anthropic(base_url=gateway.url, api_key=gateway.key, max_retries=0))
    messages = [{"role": "user", "content": "how many tokens is this?"}]
    raw = api.messages.with_raw_response.count_tokens(model="claude", messages=messages)
    assert raw.parse().input_tokens == 42 and raw.headers["x-gateway-token-count"] == "provider"
    raw = api.messages.with_raw_response.count_tokens(model="gpt", messages=messages)
    assert raw.parse().input_tokens == 6 and raw.headers["x-gateway-token-count"] == "estimated"


def test_count_tokens_is_decided_redacted_and_audited(gateway, anthropic_upstream):
    """Counting sends the conversation to the provider: the policy decides it (`operation: count_tokens`), PII
    is redacted before it leaves, and the call is audited, like a message."""
    api = track(anthropic.Anthropic(base_url=gateway.url, api_key=gateway.key, max_retries=0))
    with pytest.raises(anthropic.PermissionDeniedError) as denied:
        api.messages.count_tokens(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert "not a configured route" in denied.value.message
    raw = api.messages.with_raw_response.count_tokens(
        model="claude", messages=[{"role": "user", "content": "mail jane.roe@example.com please"}]
    )
    assert raw.parse().input_tokens == 42 and raw.headers["x-gateway-decision-id"]
    sent = json.dumps(anthropic_upstream[0].received[-1])
    assert "jane.roe@example.com" not in sent and "please" in sent
    rows = [r for r in audit_rows(gateway.settings.database_url, wait_for=2) if r["event"] == "decision"]
    assert [(r["target"], r["allow"]) for r in rows if r["phase"] == "request"] == [("nope", False), ("claude", True)]


def test_get_one_model_in_both_sdk_shapes(gateway):
    assert (
        track(anthropic.Anthropic(base_url=gateway.url, api_key=gateway.key)).models.retrieve("claude").id == "claude"
    )
    oai = track(openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=gateway.key, max_retries=0))
    assert oai.models.retrieve("gpt").id == "gpt"
    with pytest.raises(openai.NotFoundError):
        oai.models.retrieve("unknown-model")


def test_thinking_blocks_reach_an_anthropic_agent_on_an_anthropic_route(gateway):
    from tests.upstreams import THINKING

    reply = client(gateway).messages.create(
        model="claude",
        max_tokens=2000,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "hello"}],
    )
    assert [b.type for b in reply.content] == ["thinking", "text"]
    assert reply.content[0].model_dump() == THINKING


def test_a_block_of_a_new_beta_passes_to_anthropic_and_is_refused_where_it_cannot_go(
    gateway, anthropic_upstream, caplog
):
    """A block type the gateway has no model for reaches an Anthropic provider as sent (its strings inspected);
    a route that translates refuses it with a 400 naming the block."""
    content = [{"type": "search_result", "source": "kb", "title": "T", "content": [{"type": "text", "text": "x"}]}]
    body = {
        "model": "claude",
        "max_tokens": 20,
        "messages": [{"role": "user", "content": [*content, {"type": "text", "text": "use it"}]}],
    }
    headers = {"x-api-key": gateway.key, "anthropic-beta": "search-results-2025-06-09"}
    ok = httpx.post(f"{gateway.url}/v1/messages", json=body, headers=headers)
    assert ok.status_code == 200, ok.text
    assert anthropic_upstream[0].received[-1]["messages"] == body["messages"]
    refused = httpx.post(f"{gateway.url}/v1/messages", json={**body, "model": "gpt"}, headers=headers)
    assert refused.status_code == 400 and "messages.0.content[0]" in refused.text
    assert "search_result" in refused.json()["error"]["message"]
    assert "refused (400 invalid_request)" in caplog.text  # and the operator's log says so
