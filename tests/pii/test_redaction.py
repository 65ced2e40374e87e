"""PII never leaves: inspected on both surfaces, redacted before the upstream, restored on the way back."""

from __future__ import annotations

import json
import shutil
from typing import Any

import anthropic
import openai
import pytest

from tests.helpers import audit_rows, track

EMAIL, PHONE, CARD, SSN, AWS = (
    "jane.roe@example.com",
    "(415) 555-2671",
    "4111 1111 1111 1111",
    "536-22-8456",
    "AKIAIOSFODNN7EXAMPLE",
)
PROMPT = f"Mail {EMAIL}, call {PHONE}, card {CARD}, SSN {SSN}, key {AWS}."
RAW = [EMAIL, PHONE, CARD, SSN, AWS]


def oai(gw) -> openai.OpenAI:
    return track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0))


def sent(upstream) -> str:
    return json.dumps(upstream[0].received[-1])


def test_every_type_is_redacted_before_the_upstream_and_the_audit_says_what(gateway, openai_upstream):
    reply = oai(gateway).chat.completions.create(
        model="gpt",
        messages=[{"role": "system", "content": f"Escalate to {EMAIL}"}, {"role": "user", "content": PROMPT}],
    )
    upstream = sent(openai_upstream)
    assert not [raw for raw in RAW if raw in upstream]
    for tag in ("<EMAIL_ADDRESS>", "<PHONE_NUMBER>", "<CREDIT_CARD>", "<US_SSN>", "<AWS_ACCESS_KEY>"):
        assert tag in upstream
    assert reply.choices[0].message.content.startswith("openai says: Mail <EMAIL_ADDRESS>")
    rows = audit_rows(gateway.settings.database_url, wait_for=3)
    request, redacted = rows[0], rows[1]
    assert (request["event"], redacted["event"]) == ("decision", "redacted")
    found = {(p["type"], p["where"], p["index"]) for p in request["pii"]}
    assert ("EMAIL_ADDRESS", "system", 0) in found and ("EMAIL_ADDRESS", "user", 1) in found
    assert {p["type"] for p in redacted["pii"]} >= {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN"}
    assert all(len(p["hash"]) == 16 and p["mode"] == "replace" for p in redacted["pii"])
    emails = {p["hash"] for p in redacted["pii"] if p["type"] == "EMAIL_ADDRESS"}
    assert len(emails) == 1  # the same value, the same keyed hash: an investigator can match it
    assert not [raw for raw in RAW if raw in json.dumps(rows)]


def test_anthropic_surface_to_an_anthropic_provider_is_redacted_too(gateway, anthropic_upstream):
    client = track(anthropic.Anthropic(base_url=gateway.url, api_key=gateway.key, max_retries=0))
    client.messages.create(
        model="claude", max_tokens=20, system=f"cc {EMAIL}", messages=[{"role": "user", "content": PROMPT}]
    )
    upstream = sent(anthropic_upstream)
    assert not [raw for raw in RAW if raw in upstream] and "<US_SSN>" in upstream


def test_tool_results_and_tool_arguments_are_redacted(gateway, openai_upstream):
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "look me up"},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "crm", "arguments": json.dumps({"email": EMAIL})}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": f"customer SSN {SSN}"},
    ]
    oai(gateway).chat.completions.create(model="gpt", messages=messages)
    body = openai_upstream[0].received[-1]
    assert json.loads(body["messages"][1]["tool_calls"][0]["function"]["arguments"]) == {"email": "<EMAIL_ADDRESS>"}
    assert body["messages"][2]["content"] == "customer SSN <US_SSN>"


def test_embeddings_inputs_are_redacted(gateway, openai_upstream):
    oai(gateway).embeddings.create(model="embed", input=[f"user {EMAIL}", "nothing here"])
    assert openai_upstream[0].received[-1]["input"] == ["user <EMAIL_ADDRESS>", "nothing here"]


def test_pass_through_fields_are_inspected_and_redacted(gateway, openai_upstream):
    oai(gateway).chat.completions.create(
        model="gpt", messages=[{"role": "user", "content": "hi"}], metadata={"customer": EMAIL}, store=False
    )
    assert openai_upstream[0].received[-1]["metadata"] == {"customer": "<EMAIL_ADDRESS>"}


def test_an_internal_provider_gets_the_values_as_they_are(gateway, openai_upstream):
    oai(gateway).chat.completions.create(model="onprem", messages=[{"role": "user", "content": PROMPT}])
    assert EMAIL in sent(openai_upstream)


@pytest.mark.parametrize("stream", [False, True])
def test_pseudonyms_go_up_and_the_real_values_come_back(gateway_factory, sqlite_url, openai_upstream, stream):
    gw = gateway_factory(sqlite_url, pii={"key_env": "GATEWAY_TEST_PII_KEY", "modes": {"default": "pseudonymize"}})
    messages = [
        {"role": "user", "content": f"I am {EMAIL}"},
        {"role": "assistant", "content": f"Noted, {EMAIL}."},
        {"role": "user", "content": f"write to {EMAIL} and ops@corp.com"},
    ]
    answer = oai(gw).chat.completions.create(model="gpt", messages=messages, stream=stream)
    upstream = sent(openai_upstream)
    assert EMAIL not in upstream and upstream.count("<EMAIL_ADDRESS_1>") == 3 and "<EMAIL_ADDRESS_2>" in upstream
    text = (
        "".join(c.choices[0].delta.content or "" for c in answer if c.choices)
        if stream
        else answer.choices[0].message.content
    )
    assert text.strip() == f"openai says: write to {EMAIL} and ops@corp.com"


@pytest.mark.parametrize("stream", [False, True])
def test_values_the_model_writes_are_scrubbed_even_split_across_chunks(gateway, openai_upstream, stream):
    answer = oai(gateway).chat.completions.create(
        model="gpt-leak", messages=[{"role": "user", "content": PROMPT}], stream=stream
    )
    text = (
        "".join(c.choices[0].delta.content or "" for c in answer if c.choices)
        if stream
        else answer.choices[0].message.content
    )
    assert CARD not in text and "ops@leaky-corp.com" not in text
    assert "mine: <CREDIT_CARD> <EMAIL_ADDRESS>" in text
    rows = audit_rows(gateway.settings.database_url, wait_for=4)
    response = [r for r in rows if r["phase"] == "response" and r["event"] == "decision"][-1]
    assert {(p["type"], p["where"]) for p in response["pii"]} >= {
        ("CREDIT_CARD", "output"),
        ("EMAIL_ADDRESS", "output"),
    }
    # positions are in the whole output the model wrote, however it was streamed
    written = f"openai says: {openai_upstream[0].received[-1]['messages'][-1]['content']}"
    written += " | mine: 4111 1111 1111 1111 ops@leaky-corp.com"
    cards = [p for p in response["pii"] if p["type"] == "CREDIT_CARD" and p["where"] == "output"]
    assert [(p["start"], p["end"]) for p in cards] == [(written.index(CARD), written.index(CARD) + len(CARD))]


POLICY_ON_FINDINGS = """package gateway

import rego.v1

decision := {"allow": count(deny) == 0, "reasons": sort([r | some r in deny]),
	"hold": null, "redact": [], "route": null}

deny contains concat("", ["secret in ", w]) if {
	some f in input.pii
	f.type == "AWS_ACCESS_KEY"
	some w in f.where
}
"""


def test_the_policy_sees_the_findings(gateway_factory, sqlite_url, tmp_path, openai_upstream):
    (tmp_path / "p.rego").write_text(POLICY_ON_FINDINGS)
    gw = gateway_factory(sqlite_url, policy={"dir": str(tmp_path), "timeout_ms": 2000})
    with pytest.raises(openai.PermissionDeniedError) as info:
        oai(gw).chat.completions.create(model="gpt", messages=[{"role": "user", "content": f"use {AWS}"}])
    assert info.value.body["reasons"] == ["secret in user"]


def test_the_pii_stays_internal_example_works_end_to_end(gateway_factory, sqlite_url, tmp_path, openai_upstream):
    from tests.conftest import ROOT

    example = tmp_path / "pii-stays-internal"
    shutil.copytree(ROOT / "docs/examples/pii-stays-internal", example)
    (example / "data.json").write_text(json.dumps({"pii_routing": {"external_routes": ["gpt"]}}))
    gw = gateway_factory(sqlite_url, policy={"dir": str(example), "timeout_ms": 2000})
    with pytest.raises(openai.PermissionDeniedError) as info:
        oai(gw).chat.completions.create(model="gpt", messages=[{"role": "user", "content": f"mail {EMAIL}"}])
    assert info.value.body["reasons"] == ["PII (EMAIL_ADDRESS) must not be sent to external route 'gpt'"]
    assert oai(gw).chat.completions.create(model="onprem", messages=[{"role": "user", "content": f"mail {EMAIL}"}])
    assert oai(gw).chat.completions.create(model="gpt", messages=[{"role": "user", "content": "no pii here"}])


def test_anthropic_streams_get_their_pseudonyms_back(gateway_factory, sqlite_url, anthropic_upstream):
    gw = gateway_factory(sqlite_url, pii={"key_env": "GATEWAY_TEST_PII_KEY", "modes": {"default": "pseudonymize"}})
    client = track(anthropic.Anthropic(base_url=gw.url, api_key=gw.key, max_retries=0))
    ask = [{"role": "user", "content": f"remind {EMAIL} at {PHONE}"}]
    with client.messages.stream(model="claude", max_tokens=50, messages=ask) as stream:
        text = "".join(stream.text_stream)
    assert EMAIL not in sent(anthropic_upstream) and "<PHONE_NUMBER_1>" in sent(anthropic_upstream)
    assert text.strip() == f"anthropic says: remind {EMAIL} at {PHONE}"


@pytest.mark.parametrize("stream", [False, True])
def test_pseudonyms_in_tool_call_arguments_come_back_as_the_real_values(gateway_factory, sqlite_url, stream):
    """The echo demo asks for the tool named in `/tool NAME {...}` with those arguments: here, placeholders."""
    gw = gateway_factory(sqlite_url, pii={"key_env": "GATEWAY_TEST_PII_KEY", "modes": {"default": "pseudonymize"}})
    tools = [{"type": "function", "function": {"name": "crm", "parameters": {"type": "object"}}}]
    ask = [{"role": "user", "content": f'/tool crm {{"email": "{EMAIL}"}}'}]
    answer = oai(gw).chat.completions.create(model="echo", messages=ask, tools=tools, stream=stream)
    if stream:
        pieces = [t for c in answer if c.choices for t in c.choices[0].delta.tool_calls or []]
        arguments = "".join(p.function.arguments or "" for p in pieces)
    else:
        arguments = answer.choices[0].message.tool_calls[0].function.arguments
    assert json.loads(arguments) == {"email": EMAIL}
    redacted = [r for r in audit_rows(sqlite_url, wait_for=3) if r["event"] == "redacted"]
    assert redacted and redacted[0]["pii"][0]["mode"] == "pseudonymize"
