"""The agent card cannot redirect the gateway: the JSON-RPC endpoint a card names must be on the configured
agent's origin or on one listed in its `endpoints`. A card naming any other origin is refused with an upstream
error, and neither the caller's message nor the agent's configured credentials reach that other server.

Two real `a2a-sdk` agents on loopback: `home` (the configured `url`, serving whatever card a test gives it) and
`elsewhere` (another port, so another origin), which records every request and its headers."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from starlette.responses import JSONResponse, RedirectResponse

from connectors.a2a_card import jsonrpc_url
from connectors.errors import EndpointRefused
from gateway.settings import AgentConfig
from tests.a2a.agents import A2AAgent
from tests.a2a.conftest import POLICY, UPSTREAM_TOKEN, message_v03
from tests.conftest import ServerThread

CARD_PATHS = ("/.well-known/agent-card.json", "/.well-known/agent.json")
TENANT = {"x-tenant": "agents"}  # a configured header (`headers`), besides the one from the environment


class CardAgent(A2AAgent):
    """An `a2a-sdk` agent that serves `card_json` as its card (None: its own); or redirects card requests to
    `card_redirect`, JSON-RPC requests to `rpc_redirect` (307: the method and body kept)."""

    def __init__(self) -> None:
        super().__init__()
        self.card_json: dict[str, Any] | None = None
        self.card_redirect: str | None = None
        self.rpc_redirect: str | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        card = scope["type"] == "http" and scope["path"] in CARD_PATHS
        redirect = self.card_redirect if card else self.rpc_redirect if scope["type"] == "http" else None
        if redirect is not None:
            await RedirectResponse(redirect, status_code=307)(scope, receive, send)
        elif card and self.card_json is not None:
            await JSONResponse(self.card_json)(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def _serve(agent: A2AAgent) -> Iterator[A2AAgent]:
    thread = ServerThread(agent)
    agent.bind(thread.url)
    with thread:
        yield agent


@pytest.fixture
def home() -> Iterator[CardAgent]:
    yield from _serve(CardAgent())


@pytest.fixture
def elsewhere() -> Iterator[A2AAgent]:
    yield from _serve(A2AAgent())


@pytest.fixture
def start_gateway(gateway_factory: Any, sqlite_url: str, tmp_path: Path, home: CardAgent, monkeypatch: Any) -> Any:
    """Starts a gateway with one A2A agent, `planner`, at `home` (its `endpoints` as given). Async tests call it
    in a thread: it creates the caller's key with an event loop of its own."""
    monkeypatch.setenv("TEST_AGENT_TOKEN", UPSTREAM_TOKEN)
    (tmp_path / "policy.rego").write_text(POLICY)

    def start(endpoints: list[str] | None = None) -> Any:
        planner = {"url": home.url, "headers": TENANT, "headers_env": {"x-upstream-token": "TEST_AGENT_TOKEN"}}
        if endpoints:  # only then: the default (none) is what most configs have
            planner["endpoints"] = endpoints
        policy = {"dir": str(tmp_path), "timeout_ms": 2000}
        return gateway_factory(sqlite_url, policy=policy, agents={"planner": {**planner, "timeout_s": 10}})

    return start


def sdk_card(url: str) -> dict[str, Any]:
    """The card the `a2a-sdk` agent at `url` serves (1.0 shape), as JSON."""
    card: dict[str, Any] = httpx.get(f"{url}/.well-known/agent-card.json").json()
    return card


def pointing_at(card: dict[str, Any], url: str) -> dict[str, Any]:
    """`card` with its JSON-RPC interface at `url`."""
    interfaces = [{**i, "url": url} for i in card["supportedInterfaces"]]
    return {**card, "supportedInterfaces": interfaces}


def v03_card(url: str) -> dict[str, Any]:
    """A 0.3 card: the JSON-RPC endpoint is `url`."""
    return {"name": "planner", "description": "plans", "version": "1.0.0", "url": url, "preferredTransport": "JSONRPC"}


def _auth(gateway: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {gateway.key}"}


async def _call(gateway: Any, method: str, text: str) -> list[dict[str, Any]]:
    """The JSON-RPC messages the gateway answered one request with (one; or a stream's events)."""
    async with httpx.AsyncClient(timeout=30, headers=_auth(gateway)) as http:
        response = await http.post(f"{gateway.url}/a2a/planner", json=message_v03(text, method))
    if response.headers["content-type"].startswith("text/event-stream"):
        return [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]
    return [response.json()]


def _texts(messages: list[dict[str, Any]]) -> list[str]:
    return [part["text"] for m in messages for part in m["result"].get("parts", [])]


def _got_credentials(agent: A2AAgent) -> bool:
    return any(
        h.get("x-upstream-token") == UPSTREAM_TOKEN and h.get("x-tenant") == "agents" for h in agent.executor.headers
    )


CARDS: dict[str, Callable[[CardAgent, str], dict[str, Any]]] = {
    "1.0": lambda home, url: pointing_at(sdk_card(home.url), url),
    "0.3": lambda home, url: v03_card(url),
}


@pytest.mark.parametrize("shape", sorted(CARDS))
@pytest.mark.parametrize("method", ["message/send", "message/stream"])
async def test_card_naming_another_origin_is_refused(
    start_gateway: Any, home: CardAgent, elsewhere: A2AAgent, shape: str, method: str, caplog: Any
) -> None:
    home.card_json = CARDS[shape](home, elsewhere.url)
    gateway = await asyncio.to_thread(start_gateway)
    with caplog.at_level(logging.WARNING, logger="gateway.a2a"):
        (answer,) = await _call(gateway, method, "the quarterly numbers")
    assert elsewhere.executor.headers == [] and elsewhere.executor.seen == []  # not one request went there
    assert home.executor.seen == []  # and the message went nowhere
    error = answer["error"]
    assert error["code"] == -32000 and error["data"]["code"] == "upstream_error"
    refused = elsewhere.url  # its origin: http://127.0.0.1:<port>
    assert refused in error["message"] and "refused" in error["message"]
    assert any(refused in r.getMessage() for r in caplog.records if r.name == "gateway.a2a")


async def test_refused_card_is_not_served_either(start_gateway: Any, home: CardAgent, elsewhere: A2AAgent) -> None:
    home.card_json = pointing_at(sdk_card(home.url), f"{elsewhere.url}/rpc")
    gateway = await asyncio.to_thread(start_gateway)
    async with httpx.AsyncClient(headers=_auth(gateway)) as http:
        response = await http.get(f"{gateway.url}/a2a/planner/.well-known/agent-card.json")
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_error"
    assert elsewhere.url in response.json()["error"]["message"]
    assert elsewhere.executor.headers == []


@pytest.mark.parametrize(
    "named",
    [
        "http://user:secret@{home}/",  # the right origin, with userinfo
        "ftp://{home}/",
        "file:///etc/passwd",
        "https://{home}/",  # another scheme is another origin
        "//{elsewhere}/",  # relative to the scheme only: another host
    ],
)
async def test_card_urls_refused(start_gateway: Any, home: CardAgent, elsewhere: A2AAgent, named: str) -> None:
    strip = len("http://")
    home.card_json = v03_card(named.format(home=home.url[strip:], elsewhere=elsewhere.url[strip:]))
    gateway = await asyncio.to_thread(start_gateway)
    (answer,) = await _call(gateway, "message/send", "hello")
    assert answer["error"]["data"]["code"] == "upstream_error" and "refused" in answer["error"]["message"]
    assert "secret" not in answer["error"]["message"]
    assert home.executor.seen == [] and elsewhere.executor.headers == []


async def test_card_fetch_follows_no_redirect(start_gateway: Any, home: CardAgent, elsewhere: A2AAgent) -> None:
    home.card_redirect = f"{elsewhere.url}/.well-known/agent-card.json"
    gateway = await asyncio.to_thread(start_gateway)
    (answer,) = await _call(gateway, "message/send", "hello")
    assert elsewhere.executor.headers == []  # the credentials did not follow the redirect
    assert answer["error"]["data"]["code"] == "upstream_error"


@pytest.mark.parametrize("method", ["message/send", "message/stream"])
async def test_jsonrpc_post_follows_no_redirect(
    start_gateway: Any, home: CardAgent, elsewhere: A2AAgent, method: str
) -> None:
    home.rpc_redirect = f"{elsewhere.url}/"
    gateway = await asyncio.to_thread(start_gateway)
    (answer,) = await _call(gateway, method, "the quarterly numbers")
    assert elsewhere.executor.headers == [] and elsewhere.executor.seen == []
    assert "error" in answer


@pytest.mark.parametrize("shape", sorted(CARDS))
@pytest.mark.parametrize("method", ["message/send", "message/stream"])
async def test_allowed_origin_gets_the_call_and_the_credentials(
    start_gateway: Any, home: CardAgent, elsewhere: A2AAgent, shape: str, method: str
) -> None:
    home.card_json = CARDS[shape](home, elsewhere.url)
    gateway = await asyncio.to_thread(start_gateway, [elsewhere.url])
    texts = _texts(await _call(gateway, method, "the quarterly numbers"))
    assert texts == ["echo: the quarterly numbers"]
    assert elsewhere.executor.seen == ["the quarterly numbers"] and home.executor.seen == []
    assert _got_credentials(elsewhere)


SAME_ORIGIN: dict[str, Callable[[CardAgent], dict[str, Any]]] = {
    "1.0, the sdk's own card": lambda home: sdk_card(home.url),
    "1.0, a relative url": lambda home: pointing_at(sdk_card(home.url), "/"),
    "0.3, an absolute url": lambda home: v03_card(f"{home.url}/"),
    "0.3, a relative url": lambda home: v03_card("/"),
    "no url: the configured one": lambda home: {"name": "planner", "version": "1.0.0"},
}


@pytest.mark.parametrize("card", sorted(SAME_ORIGIN))
async def test_same_origin_cards_still_work(
    start_gateway: Any, home: CardAgent, elsewhere: A2AAgent, card: str
) -> None:
    home.card_json = SAME_ORIGIN[card](home)
    gateway = await asyncio.to_thread(start_gateway)
    for method in ("message/send", "message/stream"):
        assert _texts(await _call(gateway, method, "plan it")) == ["echo: plan it"]
    assert home.executor.seen == ["plan it", "plan it"] and _got_credentials(home)
    assert elsewhere.executor.headers == []


def test_origins_compare_scheme_host_and_port() -> None:
    assert jsonrpc_url({"url": "HTTP://Agent.Example:80/rpc"}, "http://agent.example") == "http://agent.example/rpc"
    assert jsonrpc_url({"url": "rpc"}, "https://agent.example/a/") == "https://agent.example/a/rpc"
    allowed = ["https://rpc.example:8443"]
    assert (
        jsonrpc_url({"url": "https://rpc.example:8443/x"}, "http://a.example", allowed) == "https://rpc.example:8443/x"
    )
    for named in (
        "https://rpc.example/x",
        "http://rpc.example:8443/x",
        "http://a.example:81/",
        "http://a.example\\@b/",
    ):
        with pytest.raises(EndpointRefused):
            jsonrpc_url({"url": named}, "http://a.example", allowed)


@pytest.mark.parametrize("entry", ["https://a.example/rpc", "https://user@a.example", "ftp://a.example", "a.example"])
def test_endpoints_are_origins_only(entry: str) -> None:
    with pytest.raises(ValidationError):
        AgentConfig(url="http://a.example", endpoints=[entry])
