"""The agents of one gateway app (`agents:`): a connector each (`connectors.a2a`), its errors in the gateway's terms.

Each agent's connector gets plain values from its `AgentConfig`, credentials read from the environment at each
request. An upstream JSON-RPC error becomes `UpstreamRpcError` (its code and message go back to the caller), a
network or HTTP failure the matching `UpstreamFailed` (`gateway.errors.from_connector`). A card naming a JSON-RPC
endpoint off the agent's origins is refused (`UpstreamFailed`) and logged.

    >>> hub = AgentHub.build(settings, services.http)  # doctest: +SKIP
    >>> await hub.send("planner", "message/send", {"message": {...}})  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from connectors.a2a import Agent, AgentConnector
from connectors.errors import EndpointRefused, UpstreamError
from connectors.http import HttpClient
from gateway.errors import GatewayError, RouteNotFound, from_connector
from gateway.settings import AgentConfig, Settings

log = logging.getLogger("gateway.a2a")


def agent_of(name: str, config: AgentConfig) -> Agent:
    """What the connector needs of an agent's settings."""
    return Agent(name, config.url, config.timeout_s, tuple(config.endpoints), config.resolved_headers)


def _error(exc: UpstreamError) -> GatewayError:
    if isinstance(exc, EndpointRefused):  # the card tried to send the agent's requests elsewhere: say so
        log.warning("%s", exc)
    return from_connector(exc, rate_limits=False)


@dataclass(frozen=True)
class AgentHub:
    """The configured agents (`agents`) and their connectors."""

    agents: dict[str, AgentConfig]
    connectors: dict[str, AgentConnector]

    @classmethod
    def build(cls, settings: Settings, http: HttpClient) -> AgentHub:
        agents = dict(settings.agents)
        return cls(agents, {name: AgentConnector(http, agent_of(name, c)) for name, c in agents.items()})

    def connector(self, name: str) -> AgentConnector:
        try:
            return self.connectors[name]
        except KeyError:
            raise RouteNotFound(f"no agent '{name}' on this gateway") from None

    async def card(self, name: str) -> dict[str, Any]:
        """The upstream's own card (1.0 path first, then 0.3's), as it sent it."""
        try:
            return await self.connector(name).card()
        except UpstreamError as exc:
            raise _error(exc) from exc

    async def send(self, name: str, method: str, params: Any) -> dict[str, Any]:
        """One JSON-RPC request; its answer as `{"result": ...}`."""
        try:
            return await self.connector(name).send(method, params)
        except UpstreamError as exc:
            raise _error(exc) from exc

    async def stream(self, name: str, method: str, params: Any) -> AsyncGenerator[dict[str, Any], None]:
        """A streaming JSON-RPC request: each event as it arrives, as `{"result": ...}` or `{"error": ...}`.
        Closing the generator early (the caller left) closes the upstream connection."""
        events = self.connector(name).stream(method, params)
        try:
            async for event in events:
                yield event
        except UpstreamError as exc:
            raise _error(exc) from exc
        finally:
            await events.aclose()

    async def post(self, name: str, body: Any) -> Any:
        """A plain HTTP agent: the JSON body POSTed as it is; its JSON answer."""
        try:
            return await self.connector(name).post(body)
        except UpstreamError as exc:
            raise _error(exc) from exc
