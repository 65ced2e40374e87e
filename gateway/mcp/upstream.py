"""Connections to the upstream MCP servers: one supervised `mcp` SDK client per configured server.

A streamable HTTP server is reached by URL with the headers (credentials) from the gateway's config and
environment, never the agent's. A stdio server is launched by the gateway; when it exits or its pipe
breaks, the connection is marked broken and the supervisor starts it again (backoff doubling from
`restart_backoff_s` up to 30 s). Requests wait up to `timeout_s` for a live connection.

Errors are translated here: an upstream JSON-RPC error becomes `UpstreamRpcError` (its code and message go
back to the agent), anything else `UpstreamFailed`.

    >>> upstream = Upstream("files", McpServerConfig(command=["python", "-m", "files_server"]))  # doctest: +SKIP
    >>> await upstream.start()  # doctest: +SKIP
    >>> tools = await upstream.list_tools()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
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

from gateway.errors import GatewayError, UpstreamFailed, UpstreamRpcError, UpstreamTimedOut
from gateway.settings import McpServerConfig

T = TypeVar("T")
MAX_BACKOFF_S = 30.0
MAX_PAGES = 100  # a server whose listing never ends cannot hang the gateway

log = logging.getLogger("gateway.mcp")


class Upstream:
    """One upstream server behind a supervised connection."""

    def __init__(self, name: str, config: McpServerConfig) -> None:
        self.name, self.config = name, config
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
        backoff = self.config.restart_backoff_s
        first = True
        while not self._closing:
            if not first:
                self.restarts += 1
            first = False
            try:
                async with self._client() as client:
                    self._session = client.session
                    self._connected.set()
                    backoff = self.config.restart_backoff_s
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
        """A connected client: a launched stdio server, or an HTTP session with the configured headers."""
        config = self.config
        if config.command is not None:
            params = StdioServerParameters(
                command=config.command[0],
                args=config.command[1:],
                env={**get_default_environment(), **config.env},
                cwd=Path(config.cwd) if config.cwd else None,
            )
            async with Client(params, read_timeout_seconds=config.timeout_s, cache=None) as client:
                yield client
            return
        if config.url is None:
            raise GatewayError("internal check failed: config.url is not None")
        timeout = httpx2.Timeout(30, read=300)
        async with httpx2.AsyncClient(headers=config.resolved_headers(), timeout=timeout) as http:
            transport = streamable_http_client(config.url, http_client=http)
            async with Client(transport, read_timeout_seconds=config.timeout_s, cache=None) as client:
                yield client

    async def _live(self) -> ClientSession:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout=self.config.timeout_s)
        except TimeoutError as exc:
            raise UpstreamTimedOut(f"MCP server '{self.name}' is not reachable") from exc
        if self._session is None:
            raise GatewayError("internal check failed: self._session is not None")
        return self._session

    async def request(self, work: Callable[[ClientSession], Awaitable[T]]) -> T:
        """Run one request on the live connection; a transport failure marks it broken (reconnect)."""
        session = await self._live()
        try:
            return await work(session)
        except MCPError as exc:
            if exc.error.code == CONNECTION_CLOSED and exc.error.message == "Connection closed":  # said by the SDK
                self._broken.set()
                raise UpstreamFailed(f"MCP server '{self.name}' closed the connection") from exc
            if exc.error.code == REQUEST_TIMEOUT and exc.error.data is None:
                raise UpstreamTimedOut(f"MCP server '{self.name}' did not answer in time") from exc
            raise UpstreamRpcError(exc.error.code, exc.error.message, exc.error.data) from exc
        except Exception as exc:
            self._broken.set()
            raise UpstreamFailed(f"MCP server '{self.name}' failed: {_brief(exc)}") from exc

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
