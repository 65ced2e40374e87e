"""Limits through the real app and the official SDKs: requests, tokens, money and calls in flight, each refused
in its protocol's shape once reached, settled from the provider's usage (on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import httpx
import openai
import pytest
from sqlalchemy.exc import OperationalError

from connectors.base import ChatRequest, Message
from gateway.errors import StoreUnavailable
from gateway.limits import ledger
from gateway.limits.limiter import Limiter, Limits
from gateway.model import Call, ModelPayload, Principal
from gateway.settings import Settings
from gateway.store.db import Database
from tests.helpers import audit_rows, track, wait_until
from tests.processes import free_port

PRICES = {"gpt": {"input": 1.0, "output": 2.0}}  # 11 in, 7 out (the stand-in's usage): 25 micro-dollars a call
TEXT = "please summarise the quarterly figures for me"  # long enough that its estimate is above 11 tokens


def client(gw: Any) -> openai.OpenAI:
    return track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0))


def ask(gw: Any, model: str = "gpt", max_tokens: int | None = 7) -> Any:
    extra = {"max_tokens": max_tokens} if max_tokens else {}
    return client(gw).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": TEXT}], **extra
    )


async def counters(database_url: str) -> dict[tuple[str, str], tuple[int, int]]:
    db = Database(database_url)
    try:
        rows = await Limiter(db, Limits()).counters()
    finally:
        await db.aclose()
    return {(r.limit_name, r.measure): (r.used, r.reserved) for r in rows}


def settled(database_url: str) -> dict[tuple[str, str], tuple[int, int]]:
    """The counters once every call has settled (a call settles just after its answer has gone)."""
    found: dict[tuple[str, str], tuple[int, int]] = {}

    def done() -> bool:
        nonlocal found
        found = asyncio.run(counters(database_url))
        return all(
            reserved == 0 and (measure != "concurrent" or used == 0) for (_, measure), (used, reserved) in found.items()
        )

    wait_until(done, timeout_s=10)
    return found


def test_requests_per_window_refused_in_openai_shape_with_retry_after(gateway_factory: Any, database_url: str) -> None:
    gw = gateway_factory(database_url, limits=[{"match": {"team": "cs"}, "requests": {"per": "1h", "max": 3}}])
    first = ask(gw)
    assert first.headers["x-ratelimit-limit-requests"] == "3"
    assert first.headers["x-ratelimit-remaining-requests"] == "2"
    assert first.headers["x-ratelimit-reset-requests"].endswith("s")
    ask(gw), ask(gw)
    with pytest.raises(openai.RateLimitError) as refused:
        ask(gw)
    error = refused.value.body
    assert error["code"] == "rate_limited" and error["limit"] == "team=cs" and error["measure"] == "requests"
    assert (error["used"], error["max"]) == (3, 3)
    assert 1 <= int(refused.value.response.headers["retry-after"]) <= 3600
    denied = [r for r in audit_rows(database_url) if r["error_code"] == "rate_limited"]
    assert len(denied) == 1 and "requests 3 of 3 per 1h" in denied[0]["reasons"][0]
    assert not denied[0]["allow"]


def test_an_agent_of_another_team_is_not_counted(gateway_factory: Any, sqlite_url: str) -> None:
    gw = gateway_factory(sqlite_url, limits=[{"match": {"team": "research"}, "requests": {"per": "1h", "max": 1}}])
    for _ in range(3):
        assert "x-ratelimit-limit-requests" not in ask(gw).headers


def test_anthropic_agents_get_anthropic_rate_limit_errors(gateway_factory: Any, sqlite_url: str) -> None:
    gw = gateway_factory(sqlite_url, limits=[{"match": {"agent": "*"}, "requests": {"per": "1m", "max": 1}}])
    agent = track(anthropic.Anthropic(base_url=gw.url, api_key=gw.key, max_retries=0))
    message = {"role": "user", "content": "hello"}
    agent.messages.create(model="claude", max_tokens=50, messages=[message])
    with pytest.raises(anthropic.RateLimitError) as refused:
        agent.messages.create(model="claude", max_tokens=50, messages=[message])
    body = refused.value.body
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert body["error"]["code"] == "rate_limited" and body["error"]["limit"] == "agent=*"
    assert refused.value.response.headers["retry-after"]


def test_money_is_reserved_then_settled_from_reported_usage(gateway_factory: Any, database_url: str) -> None:
    limit = {
        "match": {"team": "cs"},
        "spend_usd": {"per": "month", "max": 0.0005},
        "tokens": {"per": "1d", "max": 10**6},
    }
    gw = gateway_factory(database_url, prices=PRICES, limits=[limit])
    for _ in range(3):
        ask(gw)
    spent = settled(database_url)
    assert spent[("team=cs", "spend")] == (3 * 25_000, 0)  # nano-dollars: 11 x $1/M + 7 x $2/M each, exactly
    assert spent[("team=cs", "tokens")] == (3 * 18, 0)


def test_a_budget_that_allows_twenty_calls_lets_at_most_twenty_through(gateway_factory: Any, database_url: str) -> None:
    limit = {"match": {"team": "cs"}, "spend_usd": {"per": "day", "max": 20 * 25 / 1_000_000}}
    gw = gateway_factory(database_url, prices=PRICES, limits=[limit])

    async def one(http: httpx.AsyncClient) -> int:
        body = {"model": "gpt", "max_tokens": 7, "messages": [{"role": "user", "content": TEXT}]}
        answer = await http.post("/v1/chat/completions", json=body)
        return answer.status_code

    async def burst() -> list[int]:
        headers = {"authorization": f"Bearer {gw.key}"}
        async with httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=60) as http:
            return await asyncio.gather(*(one(http) for _ in range(60)))

    statuses = asyncio.run(burst())
    assert set(statuses) <= {200, 429}
    assert 1 <= statuses.count(200) <= 20
    used, reserved = settled(database_url)[("team=cs", "spend")]
    assert (used, reserved) == (statuses.count(200) * 25_000, 0)  # settled to the nano-dollar, nothing left held
    refused = [r for r in audit_rows(database_url) if r["error_code"] == "budget_exceeded"]
    assert len(refused) == statuses.count(429)


def test_unknown_prices_are_denied_or_free_as_configured(gateway_factory: Any, sqlite_url: str) -> None:
    limit = {"match": {"team": "cs"}, "spend_usd": {"per": "day", "max": 1}}
    gw = gateway_factory(sqlite_url, prices=PRICES, limits=[limit])
    with pytest.raises(openai.PermissionDeniedError) as refused:
        ask(gw, model="echo")
    assert refused.value.body["code"] == "price_unknown"
    with pytest.raises(openai.PermissionDeniedError) as unknown:  # no route: the policy says so, not the price
        ask(gw, model="no-such-model")
    assert unknown.value.body["code"] == "policy_denied"
    free = gateway_factory(sqlite_url, prices=PRICES, limits=[limit], usage={"unknown_price": "zero"})
    assert ask(free, model="echo").status_code == 200


def test_calls_in_flight_are_limited_and_released(gateway_factory: Any, sqlite_url: str) -> None:
    gw = gateway_factory(sqlite_url, limits=[{"match": {"team": "cs"}, "concurrent": 1}])
    agent = client(gw)
    stream = agent.chat.completions.create(model="trickle", messages=[{"role": "user", "content": "go"}], stream=True)
    next(iter(stream))
    with pytest.raises(openai.RateLimitError) as refused:
        ask(gw)
    assert refused.value.body["code"] == "concurrency_limited"
    stream.close()
    settled(sqlite_url)  # the stream's end is settled as the gateway notices the agent left
    assert ask(gw).status_code == 200


def test_a_stream_left_midway_is_settled_by_what_was_delivered(gateway_factory: Any, sqlite_url: str) -> None:
    prices = {"trickle": {"input": 1.0, "output": 1.0}}
    limit = {"match": {"team": "cs"}, "tokens": {"per": "1d", "max": 10**6}}
    gw = gateway_factory(sqlite_url, prices=prices, limits=[limit])
    stream = client(gw).chat.completions.create(
        model="trickle", messages=[{"role": "user", "content": "go"}], stream=True, max_tokens=1000
    )
    texts = []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            texts.append(chunk.choices[0].delta.content)
        if len(texts) == 3:
            break
    stream.close()
    used, _ = settled(sqlite_url)[("team=cs", "tokens")]
    input_estimate = 1 + 4  # "go": one token by its length, and a message's overhead
    assert input_estimate < used < input_estimate + 1000  # not the 1,000 reserved
    assert used >= input_estimate + len("".join(texts)) // 3


def test_settings_refuse_bad_limits() -> None:
    with pytest.raises(ValueError, match="at least one of"):
        Settings.model_validate({"limits": [{"match": {"team": "a"}}]})
    with pytest.raises(ValueError, match="unknown time zone"):
        Settings.model_validate({"usage": {"timezone": "Mars/Olympus"}})
    with pytest.raises(ValueError, match="pattern"):
        Settings.model_validate({"limits": [{"requests": {"per": "1 minute", "max": 3}}]})


def test_responses_agents_get_the_openai_shape(gateway_factory: Any, sqlite_url: str) -> None:
    gw = gateway_factory(sqlite_url, limits=[{"match": {"key_id": "*"}, "requests": {"per": "1d", "max": 1}}])
    agent = client(gw)
    agent.responses.create(model="gpt", input="hello")
    with pytest.raises(openai.RateLimitError) as refused:
        agent.responses.create(model="gpt", input="hello")
    assert refused.value.body["code"] == "rate_limited" and refused.value.body["limit"] == "key_id=*"


def test_a_store_that_cannot_count_fails_the_call_and_forwards_nothing(
    gateway_factory: Any, sqlite_url: str, openai_upstream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = gateway_factory(sqlite_url, limits=[{"match": {"team": "cs"}, "requests": {"per": "1h", "max": 100}}])

    def broken(*_: Any) -> None:
        raise OperationalError("UPDATE usage_counters", {}, Exception("disk I/O error"))

    monkeypatch.setattr(ledger, "take", broken)
    sent = len(openai_upstream[0].received)
    with pytest.raises(openai.InternalServerError) as failed:
        ask(gw)
    assert failed.value.status_code == 503 and failed.value.body["code"] == "store_unavailable"
    assert len(openai_upstream[0].received) == sent  # no silent allow


def test_an_unreachable_store_is_unavailable_not_unlimited() -> None:
    async def reserve() -> None:
        db = Database(f"postgresql+asyncpg://gateway:gateway@127.0.0.1:{free_port()}/none", timeout_s=2)
        limits = Limits.of(Settings.model_validate({"limits": [{"concurrent": 1}]}))
        call = Call(
            principal=Principal(agent="a", key_id="k"),
            payload=ModelPayload(request=ChatRequest(model="echo", messages=[Message(role="user", content="hi")])),
            surface="openai",
            request_id="r1",
        )
        try:
            await Limiter(db, limits).reserve(call, {})
        finally:
            await db.aclose()

    with pytest.raises(StoreUnavailable):
        asyncio.run(reserve())
