"""One configured MCP server as the gateway uses it: its connector (`connectors.mcp`: the supervised HTTP or
stdio connection), its settings, and its errors in the gateway's terms.

The connector gets plain values from `McpServerConfig`, its credentials read from the environment at each
connection. An upstream JSON-RPC error becomes `UpstreamRpcError` (its code and message go back to the agent), a
timeout `UpstreamTimedOut`, anything else `UpstreamFailed` (`gateway.errors.from_connector`).

    >>> upstream = Upstream("files", McpServerConfig(command=["python", "-m", "files_server"]))  # doctest: +SKIP
    >>> upstream.start()  # doctest: +SKIP
    >>> tools = await upstream.list_tools()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from mcp.client.session import ClientSession

from connectors.errors import UpstreamError
from connectors.mcp import McpConnector, McpServer
from gateway.errors import from_connector
from gateway.settings import McpServerConfig

T = TypeVar("T")


def server_of(config: McpServerConfig) -> McpServer:
    """What the connector needs of a server's settings."""
    return McpServer(
        url=config.url,
        command=tuple(config.command) if config.command is not None else None,
        env=dict(config.env),
        cwd=config.cwd,
        timeout_s=config.timeout_s,
        restart_backoff_s=config.restart_backoff_s,
        headers=config.resolved_headers,
    )


class Upstream:
    """One upstream server: its settings (`config`) and its connection (`connector`)."""

    def __init__(self, name: str, config: McpServerConfig) -> None:
        self.name, self.config = name, config
        self.connector = McpConnector(name, server_of(config))

    def start(self) -> None:
        self.connector.start()

    async def aclose(self) -> None:
        await self.connector.aclose()

    async def request(self, work: Callable[[ClientSession], Awaitable[T]]) -> T:
        """Run one request on the live connection (see `McpConnector.request`)."""
        try:
            return await self.connector.request(work)
        except UpstreamError as exc:
            raise from_connector(exc, rate_limits=False) from exc

    async def list_tools(self) -> list[dict[str, Any]]:
        """Every tool the server lists (all pages), as wire JSON."""
        try:
            return await self.connector.list_tools()
        except UpstreamError as exc:
            raise from_connector(exc, rate_limits=False) from exc
