"""Other agents: an A2A agent's card and its JSON-RPC requests, or a plain HTTP agent's JSON body.

Requests go over the shared HTTP session (`connectors.http`) with the headers (credentials) the `Agent` gives
at each request, never the caller's. A2A requests carry `A2A-Version: 1.0` for the 1.0 method names
(`SendMessage`, ...) and none for the 0.3 ones (`message/send`, ...), so an upstream that speaks both (the
`a2a-sdk` with its 0.3 compatibility on) answers each caller in its own version.

The headers go only to the agent's origin, or to one in its `endpoints`: a card naming any other JSON-RPC
endpoint is refused (`EndpointRefused`, `connectors.a2a_card`), and the card fetch follows no redirect.
Errors are `connectors.errors`: an upstream JSON-RPC error is `UpstreamRpcError` (its code, message and data, to
go back to the caller), a network or HTTP failure the matching `UpstreamError`.

    >>> agent = AgentConnector(http, Agent("planner", "http://10.0.0.9:9200"))  # doctest: +SKIP
    >>> await agent.send("message/send", {"message": {...}})  # doctest: +SKIP
    {'result': {...}}
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from connectors.a2a_card import jsonrpc_url
from connectors.errors import EndpointRefused, UpstreamError, UpstreamRpcError
from connectors.http import HttpClient, load_event, open_stream, post_json, sse_events, translate

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

NOT_AN_ANSWER = "the agent sent something that is not a JSON-RPC answer"


def _no_headers() -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class Agent:
    """Where one agent is. A2A: `url` is its base URL (its card is under it); http: the endpoint bodies go to.
    `endpoints`: other origins its card may name as the JSON-RPC endpoint. `headers` is called at each request,
    so credentials read from the environment are read then."""

    name: str
    url: str
    timeout_s: float = 60.0  # per request (a stream: for all of it)
    endpoints: Sequence[str] = ()
    headers: Callable[[], dict[str, str]] = _no_headers


def _rpc(method: str, params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": os.urandom(16).hex(), "method": method, "params": params}


def _answer(message: Any) -> dict[str, Any]:
    """One JSON-RPC answer as `{"result": ...}`; an error answer raises `UpstreamRpcError`."""
    error = message.get("error") if isinstance(message, dict) else None
    if isinstance(error, dict):
        try:
            code = int(error.get("code", -32000))
        except (TypeError, ValueError):
            raise UpstreamError(NOT_AN_ANSWER, status=502) from None
        raise UpstreamRpcError(code, str(error.get("message", "")), error.get("data"))
    if not isinstance(message, dict) or "result" not in message:
        raise UpstreamError(NOT_AN_ANSWER, status=502)
    return {"result": message["result"]}


class AgentConnector:
    """One agent, and what was learnt of it: an A2A agent's JSON-RPC URL, from its card."""

    def __init__(self, http: HttpClient, agent: Agent) -> None:
        self.http, self.agent = http, agent
        self.endpoint_url: str | None = None

    async def card(self) -> dict[str, Any]:
        """The agent's own card (1.0 path first, then 0.3's), as it sent it."""
        base = self.agent.url.rstrip("/")
        status = 0
        for path in CARD_PATHS:
            status, body = await self._get(base + path)
            if status == 200 and isinstance(body, dict):
                self.endpoint_url = self._checked(body)
                return body
        raise UpstreamError(f"agent '{self.agent.name}' serves no agent card (answered {status})", status=status)

    def _checked(self, card: dict[str, Any]) -> str:
        """The card's JSON-RPC URL, if it is one the agent's requests (and headers) may go to."""
        try:
            return jsonrpc_url(card, self.agent.url, self.agent.endpoints)
        except EndpointRefused as exc:
            raise EndpointRefused(f"agent '{self.agent.name}': {exc}") from None

    async def _get(self, url: str) -> tuple[int, Any]:
        timeout = aiohttp.ClientTimeout(total=self.agent.timeout_s)
        try:
            # no redirects: the agent's headers would follow them to wherever they point
            async with self.http.get(url, headers=self.agent.headers(), timeout=timeout, allow_redirects=False) as resp:
                raw = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise translate(exc, url) from exc
        try:
            return status, json.loads(raw) if status == 200 else None
        except ValueError:
            return 502, None

    async def endpoint(self) -> str:
        """The JSON-RPC URL (the card is fetched the first time)."""
        if self.endpoint_url is None:
            await self.card()
        if self.endpoint_url is None:
            raise UpstreamError(f"agent '{self.agent.name}' names no JSON-RPC endpoint", status=502)
        return self.endpoint_url

    def _headers(self, method: str, stream: bool) -> dict[str, str]:
        out = self.agent.headers()
        if method in V1_METHODS:
            out["A2A-Version"] = "1.0"
        out["accept"] = "text/event-stream" if stream else "application/json"
        return out

    async def send(self, method: str, params: Any) -> dict[str, Any]:
        """One JSON-RPC request; its answer as `{"result": ...}`."""
        url = await self.endpoint()
        headers = self._headers(method, stream=False)
        message = await post_json(self.http, url, _rpc(method, params), headers, self.agent.timeout_s)
        return _answer(message)

    async def stream(self, method: str, params: Any) -> AsyncGenerator[dict[str, Any], None]:
        """A streaming JSON-RPC request: each event as it arrives, as `{"result": ...}` or `{"error": ...}`.
        Closing the generator early (the caller left) closes the upstream connection."""
        url = await self.endpoint()
        headers = self._headers(method, stream=True)
        try:
            async with open_stream(self.http, url, _rpc(method, params), headers, self.agent.timeout_s) as resp:
                if not resp.content_type.startswith("text/event-stream"):  # an error answered as plain JSON
                    yield _answer(json.loads(await resp.read()))
                    return
                async for _, data in sse_events(resp, url):
                    message = load_event(data)
                    yield {"error": message["error"]} if "error" in message else _answer(message)
        except ValueError as exc:
            raise UpstreamError(f"agent '{self.agent.name}' sent a body that is not JSON", status=502) from exc

    async def post(self, body: Any) -> Any:
        """A plain HTTP agent: the JSON body POSTed as it is; its JSON answer."""
        return await post_json(self.http, self.agent.url, body, self.agent.headers(), self.agent.timeout_s)
