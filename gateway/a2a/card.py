"""An A2A agent card as callers see it through the gateway: every interface points at `/a2a/{agent}`, and
nothing in it names the upstream's address.

Both card shapes are handled: A2A 1.0 (`supportedInterfaces`) and 0.3 (`url`, `preferredTransport`,
`additionalInterfaces`). Only the JSON-RPC binding is offered (the gateway proxies no REST or gRPC); the
upstream's `signatures` (which the rewrite would break) and security schemes (its credentials are the
gateway's business: callers present their gateway key) are dropped, and so is any other field that mentions
the upstream's host.

    >>> card = rewrite({"url": "http://10.0.0.9:9200/", "name": "p"}, "http://10.0.0.9:9200", "https://gw/a2a/p")
    >>> card["url"], card["additionalInterfaces"]
    ('https://gw/a2a/p', [{'url': 'https://gw/a2a/p', 'transport': 'JSONRPC'}])

The card comes from the upstream, yet the gateway sends the callers' messages and the agent's configured
credentials to the JSON-RPC URL it names. So that URL must be http(s), without userinfo, on the origin (scheme,
host, port) of the configured `url` or on one in the agent's `endpoints` list; anything else is refused.

    >>> jsonrpc_url({"url": "/rpc"}, "http://10.0.0.9:9200")
    'http://10.0.0.9:9200/rpc'
    >>> jsonrpc_url({"url": "rpc"}, "http://10.0.0.9:9200", allowed=["https://10.0.0.8"])
    'http://10.0.0.9:9200/rpc'
    >>> jsonrpc_url({"url": "https://10.0.0.8/rpc"}, "http://10.0.0.9:9200", allowed=["https://10.0.0.8"])
    'https://10.0.0.8/rpc'
    >>> try:
    ...     jsonrpc_url({"url": "http://10.0.0.8:80/rpc"}, "http://10.0.0.9:9200")
    ... except EndpointRefused as exc:
    ...     print(exc)  # doctest: +ELLIPSIS
    the agent card names a JSON-RPC endpoint on http://10.0.0.8:80, which is neither the agent's origin nor ...
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from yarl import URL

JSONRPC = "JSONRPC"
DROPPED = ("signatures", "securitySchemes", "securityRequirements", "security")
SCHEMES = ("http", "https")


class EndpointRefused(ValueError):
    """A URL the gateway will not send an agent's requests to (the message says why and names its origin)."""


def _named(card: dict[str, Any]) -> str | None:
    """The JSON-RPC URL the card names: its 1.0 JSONRPC interface, else its 0.3 `url`, else none."""
    for interface in card.get("supportedInterfaces") or []:
        if isinstance(interface, dict) and interface.get("protocolBinding") == JSONRPC and interface.get("url"):
            return str(interface["url"])
    url = card.get("url")
    if isinstance(url, str) and url and card.get("preferredTransport", JSONRPC) == JSONRPC:
        return url
    return None


def _parse(url: str) -> URL:
    """yarl's reading of `url`, as aiohttp (which sends the requests) reads it: no second parser can find another
    host in the same text."""
    try:
        return URL(url)
    except ValueError as exc:  # a port out of range, a backslash in the host, ...
        raise EndpointRefused(f"not a valid URL ({exc})") from None


def origin(url: str) -> str:
    """`scheme://host:port` (the port spelt out) of an absolute http(s) URL without userinfo; else `EndpointRefused`."""
    parsed = _parse(url)
    if parsed.scheme not in SCHEMES or not parsed.raw_host:
        raise EndpointRefused(f"not an http(s) URL (scheme {parsed.scheme or 'none'!r})")
    host = f"[{parsed.raw_host}]" if ":" in parsed.raw_host else parsed.raw_host
    if parsed.raw_user is not None or parsed.raw_password is not None:
        raise EndpointRefused(f"a URL with userinfo (credentials), on {host}")
    return f"{parsed.scheme}://{host}:{parsed.port}"


def jsonrpc_url(card: dict[str, Any], base_url: str, allowed: Iterable[str] = ()) -> str:
    """Where the agent takes JSON-RPC (the URL the card names, resolved against `base_url`; else `base_url`),
    if it is on `base_url`'s origin or one of `allowed` (see the module docstring); else `EndpointRefused`.
    The URL returned is the one checked, as yarl wrote it."""
    permitted = {origin(o) for o in (base_url, *allowed)}
    try:
        url = str(_parse(base_url).join(_parse(_named(card) or base_url)))
        found = origin(url)
    except EndpointRefused as exc:
        raise EndpointRefused(f"the agent card names a JSON-RPC endpoint that is {exc}: refused") from None
    if found not in permitted:
        raise EndpointRefused(
            f"the agent card names a JSON-RPC endpoint on {found}, which is neither the agent's origin nor in its"
            " `endpoints`: refused"
        )
    return url


def _versions(card: dict[str, Any]) -> list[str]:
    found = [
        str(i.get("protocolVersion") or "1.0")
        for i in card.get("supportedInterfaces") or []
        if isinstance(i, dict) and i.get("protocolBinding") == JSONRPC
    ]
    return sorted(set(found)) or ["1.0"]


def _mentions(value: Any, host: str) -> bool:
    if isinstance(value, str):
        return host in value
    if isinstance(value, dict):
        return any(_mentions(v, host) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, host) for v in value)
    return False


def rewrite(card: dict[str, Any], upstream_url: str, gateway_url: str) -> dict[str, Any]:
    """The card with the gateway's URL in place of the upstream's (see the module docstring)."""
    host = urlsplit(upstream_url).netloc
    out = {k: v for k, v in card.items() if k not in DROPPED and not (host and _mentions(v, host))}
    if "supportedInterfaces" in card:
        out["supportedInterfaces"] = [
            {"url": gateway_url, "protocolBinding": JSONRPC, "protocolVersion": v} for v in _versions(card)
        ]
    if "url" in card or "supportedInterfaces" not in card:
        out.update(url=gateway_url, preferredTransport=JSONRPC)
        out["additionalInterfaces"] = [{"url": gateway_url, "transport": JSONRPC}]
    return out
