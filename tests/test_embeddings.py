"""`POST /v1/embeddings` through the gateway, with the official openai SDK as the agent."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.helpers import audit_rows, track


def client(gw) -> openai.OpenAI:
    return track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0))


def test_embeddings_through_an_openai_provider(gateway, openai_upstream):
    result = client(gateway).embeddings.create(model="embed", input=["hello", "hi"])
    assert [d.embedding for d in result.data] == [[5.0, 0.5, -0.25], [2.0, 0.5, -0.25]]
    assert result.usage.prompt_tokens == 4
    sent = openai_upstream[0].received[-1]
    assert sent["model"] == "text-embed-test" and sent["input"] == ["hello", "hi"]
    assert sent["encoding_format"] == "base64"  # the SDK's choice passes through unchanged
    rows = audit_rows(gateway.settings.database_url, wait_for=2)
    assert [(r["phase"], r["allow"], r["target"]) for r in rows] == [
        ("request", True, "embed"),
        ("response", True, "embed"),
    ]
    assert rows[-1]["input_tokens"] == 4 and rows[-1]["provider"] == "oai"


def test_float_encoding_and_a_single_string_input(gateway):
    r = httpx.post(
        f"{gateway.url}/v1/embeddings",
        headers={"authorization": f"Bearer {gateway.key}"},
        json={"model": "embed", "input": "abc", "encoding_format": "float"},
    )
    assert r.status_code == 200 and r.json()["data"][0]["embedding"] == [3.0, 0.5, -0.25]


def test_embeddings_fall_back_like_chat(gateway):
    assert client(gateway).embeddings.create(model="embed-flaky", input="x").data[0].embedding[0] == 1.0


def test_echo_demo_embeddings_are_deterministic(gateway):
    first = client(gateway).embeddings.create(model="echo", input="same text").data[0].embedding
    again = client(gateway).embeddings.create(model="echo", input="same text").data[0].embedding
    assert len(first) == 8 and first == again


def test_a_provider_without_embeddings_is_a_clear_400(gateway):
    with pytest.raises(openai.BadRequestError) as info:
        client(gateway).embeddings.create(model="embed-claude", input="x")
    assert "offers no embeddings" in info.value.body["message"]


def test_policy_decides_embeddings_too(gateway):
    with pytest.raises(openai.PermissionDeniedError) as info:
        client(gateway).embeddings.create(model="not-a-route", input="x")
    assert info.value.body["reasons"] == ["model 'not-a-route' is not a configured route"]


@pytest.mark.parametrize("tokens", [[[1, 2, 3], [4, 5]], [7, 8, 9]])
def test_token_id_input_is_forwarded_unchanged(gateway, openai_upstream, tokens):
    # LangChain's OpenAIEmbeddings sends token ids by default; there is no text for PII inspection to read
    result = client(gateway).embeddings.create(model="embed", input=tokens)
    assert len(result.data) == (1 if isinstance(tokens[0], int) else len(tokens))
    assert openai_upstream[0].received[-1]["input"] == tokens
    rows = audit_rows(gateway.settings.database_url, wait_for=2)
    assert rows[-1]["allow"] is True and rows[-1]["provider"] == "oai"


def test_echo_embeds_token_ids_too(gateway):
    result = client(gateway).embeddings.create(model="echo", input=[[1, 2], [3]], encoding_format="float")
    assert len(result.data) == 2 and result.data[0].embedding != result.data[1].embedding


@pytest.mark.parametrize(
    "body",
    [
        {"model": "embed"},
        {"model": "embed", "input": []},
        {"model": "embed", "input": [[]]},
        {"model": "embed", "input": [1, "a"]},
        {"model": "embed", "input": [[1, 2.5]]},
    ],
)
def test_malformed_embedding_requests_are_400(gateway, body):
    r = httpx.post(f"{gateway.url}/v1/embeddings", headers={"authorization": f"Bearer {gateway.key}"}, json=body)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


END_USER_POLICY = """package gateway

import rego.v1

decision := {"allow": input.principal.end_user != "mallory", "reasons": ["end user checked"], "hold": null,
    "redact": [], "route": null}
"""


def test_the_embeddings_user_is_the_end_user_for_the_policy_and_the_audit(gateway_factory, sqlite_url, tmp_path):
    """`user` on embeddings is checked and decided like on chat: the same end user is denied on both, a control
    character in it is refused, and the audit names it."""
    (tmp_path / "policy.rego").write_text(END_USER_POLICY)
    gw = gateway_factory(sqlite_url, policy={"dir": str(tmp_path), "timeout_ms": 2000})
    api = client(gw)
    with pytest.raises(openai.PermissionDeniedError):
        api.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}], user="mallory")
    with pytest.raises(openai.PermissionDeniedError):
        api.embeddings.create(model="embed", input=["hello"], user="mallory")
    assert api.embeddings.create(model="embed", input=["hello"], user="alice").data
    with pytest.raises(openai.BadRequestError) as refused:
        api.embeddings.create(model="embed", input=["hello"], user="alice\x85bob")
    assert refused.value.body["param"] == "user"
    decisions = [r for r in audit_rows(sqlite_url, wait_for=5) if r["event"] == "decision" and r["phase"] == "request"]
    assert [(r["kind"], r["end_user"], r["allow"]) for r in decisions[:3]] == [
        ("model", "mallory", False),
        ("embeddings", "mallory", False),
        ("embeddings", "alice", True),
    ]
