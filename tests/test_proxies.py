"""Behind a reverse proxy: a trusted proxy's X-Forwarded-For/-Proto (or Forwarded) name the client and the scheme,
for the sign-in limits and the session cookie; anyone else's forwarding headers are ignored."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.clock import FakeClock
from gateway.proxies import TrustedProxies
from gateway.settings import Settings, load_settings
from tests.approvals import PASSWORD, add_reviewer, allow_all_policy
from tests.conftest import ROOT

PROXY = "10.0.0.2"  # the peer every request comes from: the proxy


def xff(value: str, proto: str | None = None) -> list[tuple[bytes, bytes]]:
    headers = [(b"x-forwarded-for", value.encode())]
    return headers + ([(b"x-forwarded-proto", proto.encode())] if proto else [])


def test_the_client_is_the_right_most_address_not_a_trusted_proxy() -> None:
    proxies = TrustedProxies.of(["10.0.0.0/8", "fd00::/8"])
    # the client wrote the first entry itself (forged); nginx appended the address it saw
    assert proxies.resolve(PROXY, "http", xff("198.51.100.1, 203.0.113.9")) == ("203.0.113.9", "http")
    assert proxies.resolve(PROXY, "http", xff("203.0.113.9, 10.0.0.7", "https")) == ("203.0.113.9", "https")
    assert proxies.resolve("fd00::2", "http", xff("[2001:db8::1]:4711")) == ("2001:db8::1", "http")
    assert proxies.resolve(PROXY, "http", xff("10.0.0.9")) == ("10.0.0.9", "http")  # all trusted: the left-most
    assert proxies.resolve("::ffff:10.0.0.2", "http", xff("203.0.113.9")) == ("203.0.113.9", "http")  # bound to ::
    assert proxies.resolve(PROXY, "http", xff("not-an-address")) == (PROXY, "http")  # garbage: the proxy itself
    assert proxies.resolve(PROXY, "http", [(b"x-forwarded-proto", b"https")]) == (PROXY, "https")
    assert proxies.resolve(PROXY, "http", xff("203.0.113.9", "gopher")) == ("203.0.113.9", "http")


def test_one_proto_per_hop_is_read_at_the_clients_hop() -> None:
    proxies = TrustedProxies.of(["10.0.0.0/8"])
    # an outer proxy took https from the client, the inner one plain http from the outer one
    assert proxies.resolve(PROXY, "http", xff("203.0.113.9, 10.0.0.7", "https, http")) == ("203.0.113.9", "https")


def test_forwarding_headers_of_an_untrusted_peer_are_ignored() -> None:
    assert TrustedProxies().resolve("203.0.113.9", "http", xff("1.2.3.4", "https")) == ("203.0.113.9", "http")
    proxies = TrustedProxies.of(["10.0.0.0/8"])
    assert proxies.resolve("203.0.113.9", "http", xff("1.2.3.4", "https")) == ("203.0.113.9", "http")


def test_rfc_7239_forwarded_is_read_only_when_configured() -> None:
    header = [(b"forwarded", b'for=198.51.100.1, for="[2001:db8::7]:80";proto=https, for=10.0.0.7;proto=http')]
    assert TrustedProxies.of(["10.0.0.0/8"], "forwarded").resolve(PROXY, "http", header) == ("2001:db8::7", "https")
    # a proxy that writes X-Forwarded-For passes a client's own Forwarded header on: it must not count
    assert TrustedProxies.of(["10.0.0.0/8"]).resolve(PROXY, "http", header) == (PROXY, "http")
    forged = [(b"forwarded", b"for=1.2.3.4"), (b"x-forwarded-for", b"203.0.113.9")]
    assert TrustedProxies.of(["10.0.0.0/8"]).resolve(PROXY, "http", forged) == ("203.0.113.9", "http")


def test_no_proxy_is_trusted_by_default_and_a_bad_network_is_refused(tmp_path: Path) -> None:
    assert Settings().trusted_proxies == []
    config = tmp_path / "gateway.yaml"
    config.write_text("trusted_proxies: [10.0.0.1/8]\n")
    with pytest.raises(Exception, match="trusted_proxies"):
        load_settings(config, env={})


def test_the_compose_nginx_is_trusted_and_sends_the_forwarding_headers() -> None:
    import ipaddress

    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    nginx = compose["services"]["nginx"]["networks"]["default"]["ipv4_address"]
    settings = load_settings(ROOT / "deploy/gateway.yaml", env={})
    assert TrustedProxies.from_settings(settings).trusts(nginx)
    subnet = compose["networks"]["default"]["ipam"]["config"][0]
    assert ipaddress.ip_address(nginx) not in ipaddress.ip_network(subnet["ip_range"])  # no replica can get it
    conf = (ROOT / "deploy/nginx.conf").read_text()
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in conf
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in conf


# -- through the app: the reviewers' sign-in behind a proxy ---------------------------------------------------


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    raw: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path}/gateway.db",
        "policy": allow_all_policy(tmp_path),
        "pii": {"key_env": "GATEWAY_TEST_PII_KEY"},
        "approvals": {"key_env": "GATEWAY_TEST_APPROVALS_KEY", "login_attempts": 2},
        "trusted_proxies": ["10.0.0.0/8"],
    }
    return Settings.model_validate(raw | overrides)


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Any]:
    """The app with its lifespan; `open(peer)` gives a client whose requests come from `peer`. Its clock stands
    still: a test's attempts all fall in one window of the sign-in limits, whenever the minute turns."""
    app = create_app(settings, clock=FakeClock())
    clients: list[httpx.AsyncClient] = []

    def open_client(peer: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://gateway.test")
        clients.append(client)
        return client

    async with app.router.lifespan_context(app):
        try:
            yield open_client
        finally:
            for client in clients:
                await client.aclose()


async def test_behind_a_trusted_proxy_sign_in_limits_count_each_client(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    add_reviewer(settings, "alice", ["finance"])
    async with serving(settings) as open_client:
        proxy = open_client(PROXY)

        async def sign_in(client: str, password: str, forged: str = "") -> int:
            chain = f"{forged}, {client}" if forged else client
            form = {"name": "alice", "password": password}
            return (await proxy.post("/ui/login", data=form, headers={"X-Forwarded-For": chain})).status_code

        assert [await sign_in("203.0.113.5", "guess") for _ in range(2)] == [401, 401]
        assert await sign_in("203.0.113.5", PASSWORD) == 429
        # a left-most entry is the client's own: it cannot move the attacker to a fresh count
        assert await sign_in("203.0.113.5", PASSWORD, forged="198.51.100.77") == 429
        # another client behind the same proxy is not locked out with the first
        assert await sign_in("203.0.113.6", PASSWORD) == 303

        # a peer that is not a trusted proxy cannot pick its address: its header is ignored
        direct = open_client("192.0.2.50")
        statuses = [
            (
                await direct.post(
                    "/ui/login",
                    data={"name": "alice", "password": "guess"},
                    headers={"X-Forwarded-For": f"198.51.100.{i}"},
                )
            ).status_code
            for i in range(3)
        ]
        assert statuses == [401, 401, 429]


async def test_behind_a_trusted_proxy_over_https_the_cookie_is_secure(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    add_reviewer(settings, "alice", ["finance"])
    form = {"name": "alice", "password": PASSWORD}
    https = {"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https"}
    async with serving(settings) as open_client:
        # the browser's Origin is the public https origin: the proxy's scheme makes it this gateway's own
        origin = {"Origin": "https://gateway.test"}
        signed = await open_client(PROXY).post("/ui/login", data=form, headers={**https, **origin})
        assert signed.status_code == 303 and "secure" in signed.headers["set-cookie"].lower()
        plain = await open_client("192.0.2.50").post("/ui/login", data=form, headers=https)
        assert plain.status_code == 303 and "secure" not in plain.headers["set-cookie"].lower()
