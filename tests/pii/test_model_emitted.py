"""What the model says: personal data it emits that the caller never sent is taken out of the answer by the
default policy (`redact_output`), whole and streamed; the caller's own values come back as sent; and a response
decision that asks for a redaction gets it on a whole answer, instead of a refusal."""

from __future__ import annotations

import openai
import pytest

from tests.helpers import audit_rows, track

LEAKED = ("4111 1111 1111 1111", "ops@leaky-corp.com")  # what the `*leak*` stand-in adds of its own


def _client(gw):
    return track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0))


@pytest.mark.parametrize("stream", [False, True])
def test_the_default_policy_takes_what_the_model_emits_out_of_the_answer(gateway, stream):
    messages = [{"role": "user", "content": "hello"}]
    if stream:
        chunks = _client(gateway).chat.completions.create(model="gpt-leak", messages=messages, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        text = _client(gateway).chat.completions.create(model="gpt-leak", messages=messages).choices[0].message.content
    assert "openai says: hello" in text and "mine:" in text
    for value in LEAKED:
        assert value not in text
    assert "<CREDIT_CARD>" in text and "<EMAIL_ADDRESS>" in text
    events = [r["event"] for r in audit_rows(gateway.settings.database_url, wait_for=3)]
    assert "redacted" in events


def test_the_callers_own_values_come_back_as_sent(gateway):
    """On an internal route nothing is redacted on the way out: the model echoes the caller's address, which is
    the caller's own, so it is not taken out of the answer."""
    mine = "jane.roe@example.com"
    answer = _client(gateway).chat.completions.create(
        model="onprem", messages=[{"role": "user", "content": f"my address is {mine}"}]
    )
    assert mine in answer.choices[0].message.content


RESPONSE_REDACTS = """package gateway

import rego.v1

decision := {"allow": true, "reasons": [], "hold": null, "route": null, "redact": redact}

default redact := []

redact := [p.type | some p in input.pii] if input.call.phase == "response"
"""


def test_a_response_decision_asking_for_redaction_gets_it_on_a_whole_answer(gateway_factory, sqlite_url, tmp_path):
    (tmp_path / "policy.rego").write_text(RESPONSE_REDACTS)
    gw = gateway_factory(sqlite_url, policy={"dir": str(tmp_path), "timeout_ms": 2000})
    answer = _client(gw).chat.completions.create(model="gpt-leak", messages=[{"role": "user", "content": "hi"}])
    text = answer.choices[0].message.content
    assert "openai says: hi" in text and all(value not in text for value in LEAKED)


RESPONSE_REDACTS_LATE = RESPONSE_REDACTS.replace(
    'if input.call.phase == "response"', 'if {\n    input.call.phase == "response"\n    input.call.upstream\n}'
)


def test_a_stream_whose_redaction_the_policy_did_not_say_up_front_is_refused(gateway_factory, sqlite_url, tmp_path):
    """A stream's text leaves as it comes: the gateway asks the policy up front what its response phase would
    redact. A policy whose answer then differs (here: it redacts only once the provider is known) gets the
    stream refused rather than the text sent unredacted."""
    (tmp_path / "policy.rego").write_text(RESPONSE_REDACTS_LATE)
    gw = gateway_factory(sqlite_url, policy={"dir": str(tmp_path), "timeout_ms": 2000})
    with pytest.raises(openai.APIError):
        chunks = _client(gw).chat.completions.create(
            model="gpt-leak", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


@pytest.mark.parametrize("stream", [False, True])
def test_with_pseudonyms_the_models_own_values_are_not_turned_back_into_values(gateway_factory, sqlite_url, stream):
    """Pseudonymized on the way out, restored on the way back: a value the model wrote itself must not become a
    placeholder that the restoring step then turns back into the value (it would reach the agent raw)."""
    pii = {"key_env": "GATEWAY_TEST_PII_KEY", "modes": {"EMAIL_ADDRESS": "pseudonymize"}}
    gw = gateway_factory(sqlite_url, pii=pii)
    mine = "jane.roe@example.com"
    messages = [{"role": "user", "content": f"my address is {mine}"}]
    if stream:
        chunks = _client(gw).chat.completions.create(model="gpt-leak", messages=messages, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        text = _client(gw).chat.completions.create(model="gpt-leak", messages=messages).choices[0].message.content
    assert mine in text  # the caller's own, restored
    assert "ops@leaky-corp.com" not in text and "<EMAIL_ADDRESS>" in text
