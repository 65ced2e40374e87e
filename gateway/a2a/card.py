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

Which JSON-RPC URL of a card the gateway may send to is the connector's check (`connectors.a2a_card`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from connectors.a2a_card import JSONRPC

DROPPED = ("signatures", "securitySchemes", "securityRequirements", "security")


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
