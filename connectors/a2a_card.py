"""Where an A2A agent's card says it takes JSON-RPC, and whether its requests may go there.

Both card shapes are read: A2A 1.0 (`supportedInterfaces`) and 0.3 (`url`, `preferredTransport`). The card
comes from the upstream, yet its JSON-RPC URL gets the callers' messages and the agent's configured
credentials. So that URL must be http(s), without userinfo, on the origin (scheme, host, port) of the agent's
configured URL or on one of the origins it allows; anything else is `EndpointRefused`.

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

from yarl import URL

from connectors.errors import EndpointRefused

JSONRPC = "JSONRPC"
SCHEMES = ("http", "https")


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
