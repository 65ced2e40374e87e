"""Fallbacks, retries, timeouts and upstream errors, against faulty stand-in providers."""

from __future__ import annotations

import time

import anthropic
import httpx
import openai
import pytest

from tests.helpers import audit_rows, track


def oai(gw) -> openai.OpenAI:
    return track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0))


def ask(gw, model: str, **kw):
    return oai(gw).chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}], **kw)


def test_connection_errors_and_500s_fall_back_to_the_next_provider(gateway):
    reply = ask(gateway, "flaky")
    assert reply.choices[0].message.content == "anthropic says: hi"
    rows = audit_rows(gateway.settings.database_url, wait_for=2)
    attempts = [(a["provider"], a["status"]) for a in rows[-1]["attempts"]]
    # down twice (1 retry, no answer), the 500 twice, then the anthropic fallback answers
    assert attempts == [("down", None), ("down", None), ("oai", 500), ("oai", 500), ("ant", 200)]
    assert rows[-1]["provider"] == "ant" and rows[-1]["upstream_model"] == "claude-ok"


def test_all_targets_failing_is_a_502_in_the_agents_shape(gateway):
    with pytest.raises(openai.InternalServerError) as info:
        ask(gateway, "all-down")
    assert info.value.status_code == 502 and info.value.body["code"] == "upstream_error"
    rows = audit_rows(gateway.settings.database_url, wait_for=2)
    assert rows[-1]["error_code"] == "upstream_error" and rows[-1]["upstream_status"] == 500


def test_rate_limits_are_retried_then_reported_as_429(gateway):
    with pytest.raises(openai.RateLimitError):
        ask(gateway, "limited")
    rows = audit_rows(gateway.settings.database_url, wait_for=1)
    assert [a["status"] for a in rows[-1]["attempts"]] == [429, 429]


def test_provider_refusing_the_request_is_not_retried(gateway, openai_upstream):
    with pytest.raises(openai.BadRequestError) as info:
        ask(gateway, "badreq")
    assert "context too long" in info.value.body["message"]
    rows = audit_rows(gateway.settings.database_url, wait_for=1)
    assert len(rows[-1]["attempts"]) == 1


def test_route_timeout_falls_back(gateway):
    reply = ask(gateway, "slow")
    assert reply.choices[0].message.content == "anthropic says: hi"
    rows = audit_rows(gateway.settings.database_url, wait_for=2)
    assert [(a["provider"], a["status"]) for a in rows[-1]["attempts"]] == [("oai", None), ("ant", 200)]
    assert "timed out" in rows[-1]["attempts"][0]["error"]


def test_route_timeout_without_fallback_is_504(gateway):
    with pytest.raises(openai.APIStatusError) as info:
        ask(gateway, "slow-only")
    assert info.value.status_code == 504 and info.value.body["code"] == "upstream_timeout"


def test_stream_falls_back_before_the_first_event(gateway):
    chunks = list(ask(gateway, "flaky", stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks).strip() == "anthropic says: hi"
    rows = audit_rows(gateway.settings.database_url, wait_for=2)
    assert [r["phase"] for r in rows] == ["request", "response"] and all(r["allow"] for r in rows)
    attempts = [(a["provider"], a["status"]) for a in rows[-1]["attempts"]]
    assert attempts == [("down", None), ("down", None), ("oai", 500), ("oai", 500), ("ant", 200)]
    assert (rows[-1]["provider"], rows[-1]["upstream_model"], rows[-1]["error_code"]) == ("ant", "claude-ok", None)


def test_dropped_openai_stream_ends_with_an_error_event(gateway):
    with pytest.raises(openai.APIError) as info:
        list(ask(gateway, "drop", stream=True))
    assert "closed the stream" in str(info.value) or "unreachable" in str(info.value)
    # the request decision was written ahead; no response decision (the stream broke): an outcome says so
    decided, row = audit_rows(gateway.settings.database_url, wait_for=2)
    assert (decided["event"], decided["allow"], decided["error_code"]) == ("decision", True, None)
    assert (row["event"], row["phase"], row["allow"], row["error_code"]) == (
        "outcome",
        "request",
        False,
        "upstream_error",
    )
    assert [(a["provider"], a["status"]) for a in row["attempts"]] == [("oai", 200)]
    assert row["provider"] == "oai" and ("closed the stream" in row["detail"] or "unreachable" in row["detail"])


def test_dropped_anthropic_stream_ends_with_an_error_event(gateway):
    client = track(anthropic.Anthropic(base_url=gateway.url, api_key=gateway.key, max_retries=0))
    with pytest.raises(anthropic.APIError):
        with client.messages.stream(
            model="drop-claude", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        ) as stream:
            list(stream.text_stream)
    decided, row = audit_rows(gateway.settings.database_url, wait_for=2)
    assert (decided["event"], row["event"], row["allow"], row["error_code"]) == (
        "decision",
        "outcome",
        False,
        "upstream_error",
    )
    assert [(a["provider"], a["status"]) for a in row["attempts"]] == [("ant", 200)]


def test_agent_leaving_mid_stream_stops_the_upstream_and_is_audited(gateway, openai_upstream):
    body = {"model": "trickle", "stream": True, "messages": [{"role": "user", "content": "long story"}]}
    headers = {"authorization": f"Bearer {gateway.key}"}
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", json=body, headers=headers) as response:
        for line in response.iter_lines():
            if "word1" in line:
                break  # leave after two words of fifty
    deadline = time.monotonic() + 5
    while openai_upstream[0].aborted == 0:
        assert time.monotonic() < deadline, "the gateway kept the upstream stream open"
        time.sleep(0.05)
    rows = audit_rows(gateway.settings.database_url, wait_for=2)  # the decision (written ahead), its outcome
    assert rows[-1]["error_code"] == "client_disconnected" and rows[-1]["target"] == "trickle"
