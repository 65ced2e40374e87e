"""MCP servers: one supervised `mcp` SDK client per server, over streamable HTTP or stdio.

A streamable HTTP server is reached by URL with the headers (credentials) its `McpServer` gives at each
connection, never the agent's. A stdio server is launched by the connector; when it exits or its pipe breaks,
the connection is marked broken and the supervisor starts it again (backoff doubling from `restart_backoff_s`
up to 30 s). Requests wait up to `timeout_s` for a live connection.

Errors are `connectors.errors`: an upstream JSON-RPC error is `UpstreamRpcError` (its code, message and data, to
go back to the agent), no live connection or no answer in time `UpstreamTimeout`, anything else
`UpstreamUnavailable`.

    >>> connector = McpConnector("files", McpServer(command=("python", "-m", "files_server")))  # doctest: +SKIP
    >>> connector.start()  # doctest: +SKIP
    >>> tools = await connector.list_tools()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import mcp_types as types
from mcp.client.client import Client
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, get_default_environment
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

from connectors.errors import UpstreamError, UpstreamRpcError, UpstreamTimeout, UpstreamUnavailable

T = TypeVar("T")
MAX_BACKOFF_S = 30.0
MAX_PAGES = 100  # a server whose listing never ends cannot hang the gateway

log = logging.getLogger("connectors.mcp")


def _no_headers() -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class McpServer:
    """How to reach one MCP server: a streamable HTTP `url`, or a stdio `command` (argv) to launch.

    `headers` is called at each connection, so credentials read from the environment are read then.

        >>> McpServer(url="http://127.0.0.1:9000/mcp", headers=lambda: {"authorization": "Bearer t"}).command
    """

    url: str | None = None
    command: Sequence[str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)  # extra environment for a stdio server
    cwd: Path | None = None  # its working directory
    timeout_s: float = 60.0  # per request, and the wait for a live connection
    restart_backoff_s: float = 0.5  # first wait before reconnecting (doubles, up to MAX_BACKOFF_S)
    headers: Callable[[], dict[str, str]] = _no_headers  # sent to an HTTP server


class McpConnector:
    """One MCP server behind a supervised connection."""

    def __init__(self, name: str, server: McpServer) -> None:
        self.name, self.server = name, server
        self.restarts = 0  # connections made after the first (a crashed stdio server started again)
        self._session: ClientSession | None = None
        self._connected = asyncio.Event()
        self._broken = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name=f"mcp upstream {self.name}")

    async def aclose(self) -> None:
        self._closing = True
        self._broken.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=5)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
                with contextlib.suppress(BaseException):
                    await self._task

    async def _supervise(self) -> None:
        """Keep one connection up; after it breaks (or cannot be made), wait and connect again."""
        backoff = self.server.restart_backoff_s
        first = True
        while not self._closing:
            if not first:
                self.restarts += 1
            first = False
            try:
                async with self._client() as client:
                    self._session = client.session
                    self._connected.set()
                    backoff = self.server.restart_backoff_s
                    await self._broken.wait()
            except Exception as exc:  # the connection failed: the supervisor's whole job is to try again
                log.warning("mcp server %s: connection lost or refused (%s); reconnecting", self.name, _brief(exc))
            finally:
                self._session = None
                self._connected.clear()
                self._broken.clear()
            if not self._closing:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[Client]:
        """A connected client: a launched stdio server, or an HTTP session with the server's headers."""
        server = self.server
        if server.command is not None:
            params = StdioServerParameters(
                command=server.command[0],
                args=list(server.command[1:]),
                env={**get_default_environment(), **server.env},
                cwd=server.cwd,
            )
            async with Client(params, read_timeout_seconds=server.timeout_s, cache=None) as client:
                yield client
            return
        if server.url is None:
            raise UpstreamUnavailable(f"MCP server '{self.name}' has neither a url nor a command")
        timeout = httpx2.Timeout(30, read=300)
        async with httpx2.AsyncClient(headers=server.headers(), timeout=timeout) as http:
            transport = streamable_http_client(server.url, http_client=http)
            async with Client(transport, read_timeout_seconds=server.timeout_s, cache=None) as client:
                yield client

    async def _live(self) -> ClientSession:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout=self.server.timeout_s)
        except TimeoutError as exc:
            raise UpstreamTimeout(f"MCP server '{self.name}' is not reachable") from exc
        if self._session is None:
            raise UpstreamUnavailable(f"MCP server '{self.name}' lost its connection")
        return self._session

    async def request(self, work: Callable[[ClientSession], Awaitable[T]]) -> T:
        """Run one request on the live connection; a transport failure marks it broken (reconnect)."""
        session = await self._live()
        try:
            return await work(session)
        except MCPError as exc:
            raise self._rpc_error(exc) from exc
        except Exception as exc:
            self._broken.set()
            raise UpstreamUnavailable(f"MCP server '{self.name}' failed: {_brief(exc)}") from exc

    def _rpc_error(self, exc: MCPError) -> UpstreamError:
        error = exc.error
        if error.code == CONNECTION_CLOSED and error.message == "Connection closed":  # said by the SDK
            self._broken.set()
            return UpstreamUnavailable(f"MCP server '{self.name}' closed the connection")
        if error.code == REQUEST_TIMEOUT and error.data is None:
            return UpstreamTimeout(f"MCP server '{self.name}' did not answer in time")
        return UpstreamRpcError(error.code, error.message, error.data)

    async def list_tools(self) -> list[dict[str, Any]]:
        """Every tool the server lists (all pages), as wire JSON."""

        async def work(session: ClientSession) -> list[dict[str, Any]]:
            tools: list[dict[str, Any]] = []
            cursor: str | None = None
            for _ in range(MAX_PAGES):
                params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
                page = await session.list_tools(params=params)
                tools.extend(t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in page.tools)
                cursor = page.next_cursor
                if not cursor:
                    break
            return tools

        return await self.request(work)


def _brief(exc: BaseException) -> str:
    """A one-line reason (an exception group says what its first member says)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"[:300]
