"""Who is calling, behind reverse proxies: the client's address and scheme as a trusted proxy reports them.

Behind nginx every request comes from the proxy's address, over plain http. A peer in `trusted_proxies` (CIDR
networks; none by default) is believed about the client: `X-Forwarded-For` and `X-Forwarded-Proto`, or with
`proxy_headers: forwarded` RFC 7239's `Forwarded` (the other kind is ignored: a client could send it, and the
proxy would pass it on). The client is the right-most address in the list that is not a trusted proxy itself:
each proxy appends the address it saw, so everything left of that one was written by the client and may be
forged. From any other peer the headers are ignored. `ProxyHeaders` puts the answer into the ASGI scope
(`client`, `scheme`), so sign-in limits, the session cookie's Secure flag, the same-origin check and the audit
log all see the client, not the proxy.

    >>> proxies = TrustedProxies.of(["10.0.0.0/8"])
    >>> proxies.resolve("10.0.0.2", "http", [(b"x-forwarded-for", b"198.51.100.1, 203.0.113.9, 10.0.0.7")])
    ('203.0.113.9', 'http')
"""

from __future__ import annotations

import contextvars
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.settings import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Headers = Iterable[tuple[bytes, bytes]]
HeaderKind = Literal["x-forwarded", "forwarded"]  # X-Forwarded-For and -Proto, or RFC 7239 Forwarded
Hop = tuple[str, str | None]  # (the address a proxy saw, the scheme it was reached over)
SCHEMES = frozenset({"http", "https"})

# The client of the request being served, for code that is handed no request (the audit stage of the pipeline).
_client: contextvars.ContextVar[str | None] = contextvars.ContextVar("gateway_client", default=None)


def client_host() -> str:
    """The address of the client whose request is being served ("unknown" outside a request)."""
    return _client.get() or "unknown"


@dataclass(frozen=True)
class TrustedProxies:
    """The proxies whose forwarding headers are believed, and which headers they write."""

    networks: tuple[Network, ...] = ()
    headers: HeaderKind = "x-forwarded"

    @classmethod
    def of(cls, networks: Sequence[str | Network], headers: HeaderKind = "x-forwarded") -> TrustedProxies:
        return cls(tuple(ipaddress.ip_network(n) for n in networks), headers)

    @classmethod
    def from_settings(cls, settings: Settings) -> TrustedProxies:
        return cls.of(settings.trusted_proxies, settings.proxy_headers)

    def trusts(self, host: str) -> bool:
        address = _address(host)
        return address is not None and any(address in network for network in self.networks)

    def resolve(self, peer: str | None, scheme: str, headers: Headers) -> tuple[str | None, str]:
        """The client's address and the scheme it used: the peer's own unless the peer is a trusted proxy."""
        if peer is None or not self.trusts(peer):
            return peer, scheme
        hops, nearest = _forwarded(headers) if self.headers == "forwarded" else _x_forwarded(headers)
        client, proto = peer, None
        for host, hop_proto in reversed(hops):
            if _address(host) is None:  # not an address (a proxy's "unknown", or garbage): stop at the last one
                break
            client, proto = _address_text(host), hop_proto
            if not self.trusts(host):
                break
        proto = proto or nearest  # no scheme per hop (nginx sets one for the chain): the nearest proxy's
        return client, proto if proto in SCHEMES else scheme


def _x_forwarded(headers: Headers) -> tuple[list[Hop], str | None]:
    """The hops (with a scheme each when every proxy appended one) and the nearest proxy's scheme."""
    fors: list[str] = []
    protos: list[str] = []
    for name, value in headers:
        if name == b"x-forwarded-for":
            fors += _items(value.decode("latin-1"))
        elif name == b"x-forwarded-proto":
            protos += _items(value.decode("latin-1"))
    nearest = protos[-1].lower() if protos else None
    if len(protos) == len(fors):  # each proxy appended both: the scheme at a hop is the one its proxy saw
        return [(host, proto.lower()) for host, proto in zip(fors, protos, strict=True)], nearest
    return [(host, None) for host in fors], nearest


def _forwarded(headers: Headers) -> tuple[list[Hop], str | None]:
    """The hops of RFC 7239 elements (`for`, `proto`), and the nearest proxy's scheme."""
    hops: list[Hop] = []
    for name, value in headers:
        if name != b"forwarded":
            continue
        for element in _items(value.decode("latin-1")):
            pairs = dict(_pair(part) for part in element.split(";") if "=" in part)
            proto = pairs.get("proto")
            hops.append((pairs.get("for", ""), proto.lower() if proto else None))
    return hops, hops[-1][1] if hops else None


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _pair(part: str) -> tuple[str, str]:
    key, _, value = part.partition("=")
    return key.strip().lower(), value.strip().strip('"')


def _host_only(host: str) -> str:
    """`[2001:db8::1]:4711` -> `2001:db8::1`, `192.0.2.1:80` -> `192.0.2.1` (ports are dropped)."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        return host.partition(":")[0]
    return host


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address in `host`; an IPv4-mapped IPv6 one (`::ffff:10.0.0.2`, a server bound to `::`) as IPv4."""
    try:
        address = ipaddress.ip_address(_host_only(host.strip()))
    except ValueError:
        return None
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return mapped or address


def _address_text(host: str) -> str:
    address = _address(host)
    return str(address) if address is not None else host


class ProxyHeaders:
    """Pure ASGI middleware: a trusted proxy's client and scheme replace the peer's in the scope (`resolve`)."""

    def __init__(self, app: ASGIApp, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # the gateway serves no websockets; lifespan passes through
            await self.app(scope, receive, send)
            return
        peer = scope.get("client")
        host, scheme = self.proxies.resolve(peer[0] if peer else None, scope.get("scheme", "http"), scope["headers"])
        if peer is not None and (host, scheme) != (peer[0], scope.get("scheme")):
            scope = {**scope, "client": (host, peer[1] if host == peer[0] else 0), "scheme": scheme}
        token = _client.set(host)
        try:
            await self.app(scope, receive, send)
        finally:
            _client.reset(token)
