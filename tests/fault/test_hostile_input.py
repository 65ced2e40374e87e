"""Hostile input at the surface (issue 11): every field an agent controls that reaches the store or the
policy is bounded, with a 400 in the protocol's shape and an audit record, on both surfaces.

Each test here failed before: the value was forwarded (and then broke the PostgreSQL insert, the policy or
the rendering), or the gateway answered a plain-text 500."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from connectors.errors import UpstreamTimeout, UpstreamUnavailable
from connectors.http import translate
from gateway.surfaces.body import load
from tests.helpers import audit_rows

OPENAI = "/v1/chat/completions"
ANTHROPIC = "/v1/messages"
LONG = "x" * 201


def openai_body(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt", "messages": [{"role": "user", "content": "hi"}], **fields}


def anthropic_body(**fields: Any) -> dict[str, Any]:
    return {"model": "claude", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}], **fields}


def body_for(path: str, **fields: Any) -> dict[str, Any]:
    return openai_body(**fields) if path == OPENAI else anthropic_body(**fields)


def post(gw: Any, path: str, body: Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"authorization": f"Bearer {gw.key}", "content-type": "application/json", **headers}
    return httpx.post(gw.url + path, content=content, headers=sent, timeout=30)


def assert_invalid(resp: httpx.Response, path: str, param: str | None = None) -> str:
    """A 400 in the protocol's own error shape; returns the message."""
    assert resp.status_code == 400, resp.text
    body = resp.json()
    if path == ANTHROPIC:
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    else:
        assert body["error"]["type"] == "invalid_request_error"
        if param is not None:
            assert body["error"]["param"] == param
    assert body["error"]["code"] == "invalid_request"
    message: str = body["error"]["message"]
    return message


both = pytest.mark.parametrize("path", [OPENAI, ANTHROPIC])


# -- X-Request-ID ----------------------------------------------------------------------------------------


@both
def test_an_overlong_request_id_is_replaced_and_the_call_recorded(gateway_factory, database_url, path):
    gw = gateway_factory(database_url)
    resp = post(gw, path, body_for(path), **{"x-request-id": "r" * 65})
    assert resp.status_code == 200, resp.text
    given = resp.headers["x-request-id"]
    assert given != "r" * 65 and len(given) <= 64 and resp.headers["request-id"] == given
    rows = audit_rows(database_url, wait_for=1)
    assert rows and {row["request_id"] for row in rows} == {given}  # PostgreSQL took the rows (String(64))


@both
def test_a_request_id_with_a_control_character_is_replaced(gateway, path):
    resp = post(gateway, path, body_for(path), **{"x-request-id": "abc\tdef"})
    assert resp.status_code == 200 and resp.headers["x-request-id"] != "abc\tdef"
    ok = post(gateway, path, body_for(path), **{"x-request-id": "trace-123"})
    assert ok.headers["x-request-id"] == "trace-123"  # a well-formed id is kept


# -- end user, model, tool names ---------------------------------------------------------------------------


@both
def test_an_overlong_end_user_header_is_refused_and_audited(gateway_factory, database_url, path):
    gw = gateway_factory(database_url)
    message = assert_invalid(post(gw, path, body_for(path), **{"x-end-user": LONG}), path, "X-End-User")
    assert "200" in message and LONG not in message
    row = audit_rows(database_url, wait_for=1)[-1]
    assert row["error_code"] == "invalid_request" and row["end_user"] is None


def test_an_overlong_body_user_is_refused(gateway):
    assert_invalid(post(gateway, OPENAI, openai_body(user=LONG)), OPENAI, "user")


def test_an_overlong_anthropic_user_id_is_refused(gateway):
    assert_invalid(post(gateway, ANTHROPIC, anthropic_body(metadata={"user_id": LONG})), ANTHROPIC)


@both
def test_an_overlong_model_is_refused_and_audited_on_postgres(gateway_factory, database_url, path):
    gw = gateway_factory(database_url)
    assert_invalid(post(gw, path, body_for(path, model="m" * 201)), path, "model")
    row = audit_rows(database_url, wait_for=1)[-1]
    assert row["error_code"] == "invalid_request" and row["target"] is None


@both
@pytest.mark.parametrize("field", ["model", "user", "tool"])
def test_a_nul_byte_in_a_name_is_refused(gateway, path, field):
    hostile = "alice\u0000mallory"
    if field == "model":
        body = body_for(path, model=hostile)
    elif field == "user":
        body = openai_body(user=hostile) if path == OPENAI else anthropic_body(metadata={"user_id": hostile})
    else:
        body = body_for(path, tools=[_tool(path, hostile)])
    assert "U+0000" in assert_invalid(post(gateway, path, body), path)


@both
def test_an_overlong_tool_name_is_refused(gateway, path):
    body = body_for(path, tools=[_tool(path, "t" * 201)])
    assert_invalid(post(gateway, path, body), path, "tools[0].name" if path == OPENAI else None)


def _tool(path: str, name: str) -> dict[str, Any]:
    if path == OPENAI:
        return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
    return {"name": name, "input_schema": {"type": "object"}}


def test_a_control_character_in_the_end_user_header_is_refused(gateway):
    # h11 lets a tab through in a header value; every other C0 character is refused by the HTTP layer itself
    assert_invalid(post(gateway, OPENAI, openai_body(), **{"x-end-user": "alice\tbob"}), OPENAI, "X-End-User")


# -- the body as JSON ---------------------------------------------------------------------------------------


@both
@pytest.mark.parametrize("raw", [b'"\\ud800"', b'"a\\udfffb"', b'"\xed\xa0\x80"'])
def test_a_lone_surrogate_is_refused_and_audited(gateway_factory, database_url, path, raw):
    gw = gateway_factory(database_url)
    body = json.dumps(body_for(path)).encode().replace(b'"hi"', raw)
    message = assert_invalid(post(gw, path, body), path)
    assert "surrogate" in message or "not valid JSON" in message
    row = audit_rows(database_url, wait_for=1)[-1]
    assert row["error_code"] == "invalid_request"


def test_a_surrogate_pair_is_an_ordinary_character(gateway):
    # json.dumps (ensure_ascii) writes an emoji as this pair of escapes
    body = json.dumps(openai_body()).encode().replace(b'"hi"', b'"\\ud83d\\ude00"')
    resp = post(gateway, OPENAI, body)
    assert resp.status_code == 200 and resp.json()["choices"][0]["message"]["content"].endswith("\U0001f600")


@both
@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_numbers_are_refused(gateway, path, constant):
    body = json.dumps(body_for(path, temperature=0.5)).encode().replace(b"0.5", constant)
    assert "non-finite" in assert_invalid(post(gateway, path, body), path)


@both
@pytest.mark.parametrize("depth", [100, 100_000])
def test_deeply_nested_json_is_a_400_not_a_500(gateway_factory, database_url, path, depth):
    gw = gateway_factory(database_url)
    nested = b"[" * depth + b"]" * depth
    body = json.dumps(body_for(path, metadata_x=0)).encode().replace(b"0}", nested + b"}")
    assert "nested deeper" in assert_invalid(post(gw, path, body), path)
    row = audit_rows(database_url, wait_for=1)[-1]
    assert row["error_code"] == "invalid_request"


def test_ordinary_nesting_and_large_flat_bodies_pass_the_checks():
    schema: dict[str, Any] = {"type": "object"}
    for _ in range(20):
        schema = {"type": "object", "properties": {"inner": schema}}
    body = {"tools": [schema] * 50, "list": list(range(10_000))}
    assert load(json.dumps(body).encode()) == body


# -- types and ranges -------------------------------------------------------------------------------------


@both
@pytest.mark.parametrize(
    "fields",
    [
        {"stream": "yes"},
        {"stream": 1},
        {"max_tokens": -1},
        {"max_tokens": 0},
        {"temperature": 3},
        {"temperature": -0.1},
        {"top_p": 1.5},
    ],
    ids=lambda f: json.dumps(f),
)
def test_bad_types_and_ranges_are_refused(gateway, path, fields):
    param = next(iter(fields))
    assert_invalid(post(gateway, path, body_for(path, **fields)), path, param if path == OPENAI else None)


def test_an_anthropic_temperature_over_one_is_refused(gateway):
    assert_invalid(post(gateway, ANTHROPIC, anthropic_body(temperature=1.5)), ANTHROPIC)


def test_an_openai_max_completion_tokens_of_zero_is_refused(gateway):
    assert_invalid(post(gateway, OPENAI, openai_body(max_completion_tokens=0)), OPENAI, "max_completion_tokens")


@pytest.mark.parametrize("model", ["echo", "claude"])
def test_an_anthropic_message_with_empty_content_is_refused(gateway, model):
    body = anthropic_body(model=model, messages=[{"role": "user", "content": []}])
    assert_invalid(post(gateway, ANTHROPIC, body), ANTHROPIC)


# -- internal addresses -------------------------------------------------------------------------------------


def test_network_errors_do_not_name_the_upstream_url():
    url = "http://10.0.0.5:8000/v1/chat/completions"
    for exc in (TimeoutError(), OSError("refused")):
        error = translate(exc, url)
        assert isinstance(error, UpstreamTimeout | UpstreamUnavailable)
        assert "10.0.0.5" not in error.message and "http" not in error.message


@both
def test_an_unreachable_provider_is_not_named_by_its_address(gateway_factory, sqlite_url, path):
    down = {"provider": "down", "model": "x", "retries": 0}
    gw = gateway_factory(sqlite_url, routes={"gpt": down, "claude": down})
    resp = post(gw, path, body_for(path))
    assert resp.status_code == 502
    assert "127.0.0.1" not in resp.text and "http://" not in resp.text
    assert "unreachable" in resp.json()["error"]["message"]


# -- names that are PII ------------------------------------------------------------------------------------


def test_personal_data_in_names_is_redacted_on_the_way_out_and_scrubbed_in_the_audit(gateway, openai_upstream):
    """An email as the body's `user`, a card number as X-Request-ID, an SSN as X-End-User, an email as `model`:
    the provider (an external, redacting route) never sees the email, and the audit keeps none of them."""
    email, card, ssn = "jane.roe@example.com", "4111111111111111", "536-22-8456"
    ok = post(gateway, OPENAI, openai_body(user=email), **{"x-request-id": card, "x-end-user": ssn})
    assert ok.status_code == 200, ok.text
    sent = openai_upstream[0].received[-1]
    assert email not in json.dumps(sent) and sent.get("user")  # redacted, not dropped
    denied = post(gateway, OPENAI, openai_body(model="john.doe@example.com"))
    assert denied.status_code == 404 or denied.status_code == 403
    rows = audit_rows(gateway.settings.database_url, wait_for=3)
    stored = json.dumps(rows, default=str)
    for value in (email, card, ssn, "john.doe@example.com"):
        assert value not in stored, value
    assert any("<US_SSN>" in (r["end_user"] or "") for r in rows)


def test_a_c1_control_character_in_a_name_is_refused(gateway):
    assert_invalid(post(gateway, OPENAI, openai_body(user="alice\u0085bob")), OPENAI, "user")
    assert_invalid(post(gateway, OPENAI, openai_body(model="gpt\u009b")), OPENAI, "model")
