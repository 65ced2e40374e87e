"""Fixtures: real servers on free loopback ports (stand-in providers, the gateway), keys, databases.

Services the machine may lack (PostgreSQL, an `opa` binary) are skipped with a reason when run by hand;
with GATEWAY_TEST_REQUIRE_SERVICES=1 (set by .ci/run) a missing service fails instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from gateway.app import create_app
from gateway.clock import Clock, SystemClock
from gateway.settings import Settings
from gateway.store.db import Database
from gateway.store.keys import KeyStore
from tests.a2a.agents import A2AAgent
from tests.helpers import close_clients
from tests.processes import free_port
from tests.upstreams import AnthropicUpstream, OpenAIUpstream

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "policies"
REQUIRE_SERVICES = os.environ.get("GATEWAY_TEST_REQUIRE_SERVICES") == "1"
os.environ.setdefault("GATEWAY_TEST_PII_KEY", "a-test-key-for-hashes-and-pseudonyms")
os.environ.setdefault("GATEWAY_TEST_APPROVALS_KEY", "a-test-key-for-held-payloads-and-sessions")
os.environ.setdefault("GATEWAY_TEST_AUDIT_KEY", "dGVzdC1rZXktZm9yLWF1ZGl0LWNoZWNrcG9pbnRzISE=")  # Ed25519 seed


def missing_service(reason: str) -> None:
    """Skip when run by hand; fail when CI asked for every service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


class ServerThread:
    """Runs an ASGI app with uvicorn on a free loopback port in a background thread."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def openai_upstream() -> Iterator[tuple[OpenAIUpstream, str]]:
    upstream = OpenAIUpstream()
    with ServerThread(upstream.app) as server:
        yield upstream, server.url


@pytest.fixture(scope="session")
def anthropic_upstream() -> Iterator[tuple[AnthropicUpstream, str]]:
    upstream = AnthropicUpstream()
    with ServerThread(upstream.app) as server:
        yield upstream, server.url


def _postgres_url() -> str:
    url = os.environ.get("GATEWAY_TEST_POSTGRES_URL")
    if not url:
        missing_service("GATEWAY_TEST_POSTGRES_URL is not set (no PostgreSQL to test against)")
    assert url
    return url


async def _reset_postgres(url: str) -> None:
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            # every table of the schema, so a new migration's table never outlives a test run
            tables = (await conn.exec_driver_sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).all()
            if tables:
                names = ", ".join(f'"{name}"' for (name,) in tables)
                await conn.exec_driver_sql(f"DROP TABLE IF EXISTS {names} CASCADE")
    finally:
        await db.aclose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/gateway.db"
    url = _postgres_url()
    asyncio.run(_reset_postgres(url))
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/gateway.db"


def make_settings(database_url: str, openai_url: str, anthropic_url: str, **overrides: Any) -> Settings:
    """A config with both stand-in providers and routes that exercise every behaviour."""
    raw: dict[str, Any] = {
        "database_url": database_url,
        # a generous budget: these tests are about behaviour, and CI shares 2 cores among many processes
        "policy": {"dir": str(POLICIES), "timeout_ms": 2000},
        "pii": {"key_env": "GATEWAY_TEST_PII_KEY"},
        "approvals": {"key_env": "GATEWAY_TEST_APPROVALS_KEY", "poll_s": 0.2},
        "providers": {
            "oai": {"kind": "openai", "base_url": f"{openai_url}/v1", "api_key_env": "TEST_OAI_KEY"},
            "azure": {
                "kind": "openai",
                "base_url": f"{openai_url}/v1?api-version=2024-10-21",
                "api_key_env": "TEST_AZURE_KEY",
                "api_key_header": "api-key",
            },
            "ant": {"kind": "anthropic", "base_url": anthropic_url},
            "down": {"kind": "openai", "base_url": f"http://127.0.0.1:{free_port()}/v1"},
            "echo": {"kind": "echo"},
            "onprem": {"kind": "openai", "base_url": f"{openai_url}/v1", "internal": True},
        },
        "routes": {
            "gpt": {"provider": "oai", "model": "gpt-test"},
            "azure-gpt": {"provider": "azure", "model": "my-deployment"},
            "embed": {"provider": "oai", "model": "text-embed-test"},
            "embed-flaky": {
                "provider": "down",
                "model": "x",
                "retries": 0,
                "fallbacks": [{"provider": "oai", "model": "text-embed-test"}],
            },
            "embed-claude": {"provider": "ant", "model": "claude-test"},
            "gpt-tool": {"provider": "oai", "model": "gpt-tool"},
            "gpt-leak": {"provider": "oai", "model": "gpt-leak"},
            "onprem": {"provider": "onprem", "model": "gpt-onprem"},
            "onprem-refuses": {"provider": "onprem", "model": "gpt-echoerr", "retries": 0},
            "claude": {"provider": "ant", "model": "claude-test"},
            "claude-tool": {"provider": "ant", "model": "claude-tool"},
            "echo": {"provider": "echo", "model": "echo"},
            "flaky": {
                "provider": "down",
                "model": "x",
                "retries": 1,
                "backoff_s": 0.01,
                "fallbacks": [{"provider": "oai", "model": "gpt-fail500"}, {"provider": "ant", "model": "claude-ok"}],
            },
            "all-down": {
                "provider": "down",
                "model": "x",
                "retries": 0,
                "fallbacks": [{"provider": "oai", "model": "gpt-fail500"}],
            },
            "limited": {"provider": "oai", "model": "gpt-ratelimit", "retries": 1, "backoff_s": 0.01},
            "badreq": {
                "provider": "oai",
                "model": "gpt-badreq",
                "fallbacks": [{"provider": "oai", "model": "gpt-test"}],
            },
            "slow": {
                "provider": "oai",
                "model": "gpt-slow",
                "timeout_s": 0.5,
                "retries": 0,
                "fallbacks": [{"provider": "ant", "model": "claude-fast"}],
            },
            "slow-only": {"provider": "oai", "model": "gpt-slow", "timeout_s": 0.5, "retries": 0},
            "drop": {"provider": "oai", "model": "gpt-drop", "retries": 0},
            "trickle": {"provider": "oai", "model": "gpt-trickle", "retries": 0},
            "drop-claude": {"provider": "ant", "model": "claude-drop", "retries": 0},
        },
    }
    raw.update(overrides)
    return Settings.model_validate(raw)


def create_key(database_url: str, agent: str = "support-bot", team: str | None = "cs") -> str:
    async def run() -> str:
        db = Database(database_url)
        try:
            await db.migrate()
            return (await KeyStore(db).create(agent, team))[1]
        finally:
            await db.aclose()

    return asyncio.run(run())


class Gateway:
    """A gateway app served on a thread of the test process; `clock` is the one its services go by: a test that
    passed a `FakeClock` moves it (`gw.clock.advance(301)`) instead of waiting for a deadline."""

    def __init__(self, settings: Settings, server: ServerThread, key: str, clock: Clock) -> None:
        self.settings = settings
        self.server = server
        self.url = server.url
        self.key = key
        self.clock = clock


@pytest.fixture
def a2a_agent() -> Iterator[A2AAgent]:
    """A stand-in A2A agent served on loopback (tests/a2a/agents.py), for any test that puts one behind the gateway."""
    agent = A2AAgent()
    thread = ServerThread(agent)
    agent.bind(thread.url)
    with thread:
        yield agent


@pytest.fixture
def gateway_factory(openai_upstream: Any, anthropic_upstream: Any) -> Iterator[Any]:
    started: list[ServerThread] = []

    def start(database_url: str, clock: Clock | None = None, **overrides: Any) -> Gateway:
        settings = make_settings(database_url, openai_upstream[1], anthropic_upstream[1], **overrides)
        key = create_key(database_url)
        clock = clock or SystemClock()
        server = ServerThread(create_app(settings, clock=clock)).__enter__()
        started.append(server)
        return Gateway(settings, server, key, clock)

    yield start
    for server in started:
        server.__exit__()


@pytest.fixture
def gateway(gateway_factory: Any, sqlite_url: str) -> Gateway:
    gw: Gateway = gateway_factory(sqlite_url)
    return gw


def opa_binary() -> str:
    path = os.environ.get("GATEWAY_TEST_OPA") or shutil.which("opa") or str(Path.home() / "go/bin/opa")
    if not Path(path).is_file():
        missing_service("no opa binary (go install github.com/open-policy-agent/opa@v1.22.3)")
    return path


@pytest.fixture(autouse=True)
def _close_sdk_clients() -> Iterator[None]:
    yield
    close_clients()
