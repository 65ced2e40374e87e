"""The upstream agents: their cards, and JSON-RPC (A2A) or plain JSON (http) requests sent to them.

Requests go over the gateway's shared HTTP session with the headers (credentials) from the gateway's config
and environment, never the caller's key. A2A requests carry `A2A-Version: 1.0` for the 1.0 method names
(`SendMessage`, ...) and none for the 0.3 ones (`message/send`, ...), so an upstream that speaks both (the
`a2a-sdk` with its 0.3 compatibility on) answers each caller in its own version.

Errors are translated here: an upstream JSON-RPC error becomes `UpstreamRpcError` (its code and message go
back to the caller), a network or HTTP failure the matching `UpstreamFailed`.

The configured headers go only to the agent's configured origin, or to one in its `endpoints`: a card naming
any other JSON-RPC endpoint is refused (`UpstreamFailed`, logged; see `gateway.a2a.card`), and the card fetch
follows no redirect.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from connectors.errors import UpstreamError, UpstreamHTTPError, UpstreamTimeout
from connectors.http import HttpClient, load_event, open_stream, post_json, sse_events, translate
from gateway.a2a.card import EndpointRefused, jsonrpc_url
from gateway.errors import (
    GatewayError,
    RouteNotFound,
    UpstreamFailed,
    UpstreamRejected,
    UpstreamRpcError,
    UpstreamTimedOut,
)
from gateway.model import AGENT_STREAMS, new_id
from gateway.settings import AgentConfig, Settings

CARD_PATHS = ("/.well-known/agent-card.json", "/.well-known/agent.json")  # 1.0 and 0.3 names of the card
V1_METHODS = frozenset(
    {"SendMessage", "SendStreamingMessage", "GetTask", "ListTasks", "CancelTask", "SubscribeToTask"}
    | {"CreateTaskPushNotificationConfig", "GetTaskPushNotificationConfig", "GetExtendedAgentCard"}
    | {"ListTaskPushNotificationConfigs", "DeleteTaskPushNotificationConfig"}
)
V03_METHODS = frozenset(
    {"message/send", "message/stream", "tasks/get", "tasks/cancel", "tasks/resubscribe"}
    | {"tasks/pushNotificationConfig/set", "tasks/pushNotificationConfig/get", "agent/getAuthenticatedExtendedCard"}
    | {"tasks/pushNotificationConfig/list", "tasks/pushNotificationConfig/delete"}
)
STREAMING = AGENT_STREAMS
log = logging.getLogger("gateway.a2a")


def to_gateway_error(exc: UpstreamError) -> GatewayError:
    if isinstance(exc, UpstreamTimeout):
        return UpstreamTimedOut(exc.message)
    if isinstance(exc, UpstreamHTTPError) and not exc.retryable:
        return UpstreamRejected(exc.message, exc.status)
    return UpstreamFailed(exc.message)


def _rpc(method: str, params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": new_id(), "method": method, "params": params}


def _answer(message: Any) -> dict[str, Any]:
    """One JSON-RPC answer as `{"result": ...}`; an error answer raises `UpstreamRpcError`."""
    if not isinstance(message, dict) or ("result" not in message and "error" not in message):
        raise UpstreamFailed("the agent sent something that is not a JSON-RPC answer")
    error = message.get("error")
    if isinstance(error, dict):
        raise UpstreamRpcError(int(error.get("code", -32000)), str(error.get("message", "")), error.get("data"))
    return {"result": message["result"]}


def _endpoint(name: str, agent: AgentConfig, card: dict[str, Any]) -> str:
    """The card's JSON-RPC URL, if it is one the gateway may send the agent's requests (and headers) to."""
    try:
        return jsonrpc_url(card, agent.url, agent.endpoints)
    except EndpointRefused as exc:
        log.warning("agent %r: %s", name, exc)
        raise UpstreamFailed(f"agent '{name}': {exc}") from None


@dataclass
class AgentHub:
    """The configured agents and what the gateway learnt of them (each A2A agent's JSON-RPC URL).

    >>> hub = AgentHub(settings.agents, services.http)  # doctest: +SKIP
    >>> await hub.send("planner", "message/send", {"message": {...}})  # doctest: +SKIP
    """

    agents: dict[str, AgentConfig]
    http: HttpClient
    endpoints: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, http: HttpClient) -> AgentHub:
        return cls(dict(settings.agents), http)

    def config(self, name: str) -> AgentConfig:
        try:
            return self.agents[name]
        except KeyError:
            raise RouteNotFound(f"no agent '{name}' on this gateway") from None

    async def card(self, name: str) -> dict[str, Any]:
        """The upstream's own card (1.0 path first, then 0.3's), as it sent it."""
        agent = self.config(name)
        base = agent.url.rstrip("/")
        for path in CARD_PATHS:
            status, body = await self._get(base + path, agent)
            if status == 200 and isinstance(body, dict):
                self.endpoints[name] = _endpoint(name, agent, body)
                return body
        raise UpstreamFailed(f"agent '{name}' serves no agent card (answered {status})")

    async def _get(self, url: str, agent: AgentConfig) -> tuple[int, Any]:
        timeout = aiohttp.ClientTimeout(total=agent.timeout_s)
        try:
            # no redirects: the agent's headers would follow them to wherever they point
            async with self.http.get(
                url, headers=agent.resolved_headers(), timeout=timeout, allow_redirects=False
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise to_gateway_error(translate(exc, url)) from exc
        try:
            return status, json.loads(raw) if status == 200 else None
        except ValueError:
            return 502, None

    async def endpoint(self, name: str) -> str:
        if name not in self.endpoints:
            await self.card(name)
        return self.endpoints[name]

    def _headers(self, agent: AgentConfig, method: str, stream: bool) -> dict[str, str]:
        out = agent.resolved_headers()
        if method in V1_METHODS:
            out["A2A-Version"] = "1.0"
        out["accept"] = "text/event-stream" if stream else "application/json"
        return out

    async def send(self, name: str, method: str, params: Any) -> dict[str, Any]:
        """One JSON-RPC request; its answer as `{"result": ...}`."""
        agent, url = self.config(name), await self.endpoint(name)
        headers = self._headers(agent, method, stream=False)
        try:
            message = await post_json(self.http, url, _rpc(method, params), headers, agent.timeout_s)
        except UpstreamError as exc:
            raise to_gateway_error(exc) from exc
        return _answer(message)

    async def stream(self, name: str, method: str, params: Any) -> AsyncGenerator[dict[str, Any], None]:
        """A streaming JSON-RPC request: each event as it arrives, as `{"result": ...}` or `{"error": ...}`.
        Closing the generator early (the caller left) closes the upstream connection."""
        agent, url = self.config(name), await self.endpoint(name)
        headers = self._headers(agent, method, stream=True)
        try:
            async with open_stream(self.http, url, _rpc(method, params), headers, agent.timeout_s) as resp:
                if not resp.content_type.startswith("text/event-stream"):  # an error answered as plain JSON
                    yield _answer(json.loads(await resp.read()))
                    return
                async for _, data in sse_events(resp, url):
                    message = load_event(data)
                    yield {"error": message["error"]} if "error" in message else _answer(message)
        except UpstreamError as exc:
            raise to_gateway_error(exc) from exc
        except ValueError as exc:
            raise UpstreamFailed(f"agent '{name}' sent a body that is not JSON") from exc

    async def post(self, name: str, body: Any) -> Any:
        """A plain HTTP agent: the JSON body POSTed as it is; its JSON answer."""
        agent = self.config(name)
        try:
            return await post_json(self.http, agent.url, body, agent.resolved_headers(), agent.timeout_s)
        except UpstreamError as exc:
            raise to_gateway_error(exc) from exc
