"""Shared HTTP plumbing for connectors: one pooled aiohttp session, error translation, SSE reading.

aiohttp rather than httpx on this path: it adds about a third of httpx's per-request CPU, which is most
of what a gateway costs (bench/ladder.py).
"""

from __future__ import annotations

import asyncio
import codecs
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from connectors.errors import UpstreamError, UpstreamHTTPError, UpstreamTimeout, UpstreamUnavailable

HttpClient = aiohttp.ClientSession
log = logging.getLogger("connectors.http")


def new_client() -> HttpClient:
    """The one long-lived session all connectors share (connection pooling, no proxies from the environment).

    Create it inside the running event loop (the app's lifespan) and close it there.
    """
    connector = aiohttp.TCPConnector(limit=200, limit_per_host=100, keepalive_timeout=30)
    return aiohttp.ClientSession(connector=connector, trust_env=False, raise_for_status=False)


def join_url(base_url: str, path: str) -> str:
    """`base_url` + `path`, keeping a query string such as Azure's `?api-version=...` at the end."""
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + path))


def _error_message(raw: bytes) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        return raw[:500].decode(errors="replace")
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return json.dumps(body)[:500]


def translate(exc: BaseException, url: str) -> UpstreamError:
    """The connector error for a network failure. Its message reaches the agent, so it never holds the URL (an
    internal address); the URL goes to the server log only."""
    log.warning("upstream %s failed: %r", url, exc)
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout("the provider timed out")
    return UpstreamUnavailable(f"the provider is unreachable ({type(exc).__name__})")


async def post_json(client: HttpClient, url: str, body: Any, headers: dict[str, str], timeout: float) -> Any:
    try:
        async with client.post(
            url, json=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False
        ) as resp:
            status, raw = resp.status, await resp.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise translate(exc, url) from exc
    if status >= 400:
        raise UpstreamHTTPError(f"upstream answered {status}: {_error_message(raw)}", status=status)
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise UpstreamError("upstream sent a body that is not JSON", status=502) from exc


@asynccontextmanager
async def open_stream(
    client: HttpClient, url: str, body: Any, headers: dict[str, str], timeout: float
) -> AsyncIterator[aiohttp.ClientResponse]:
    """A streaming POST; `timeout` bounds connecting and each wait for more bytes, not the whole stream."""
    limits = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
    try:
        resp = await client.post(url, json=body, headers=headers, timeout=limits, allow_redirects=False)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise translate(exc, url) from exc
    try:
        if resp.status >= 400:
            raw = await resp.read()
            raise UpstreamHTTPError(f"upstream answered {resp.status}: {_error_message(raw)}", status=resp.status)
        yield resp
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise translate(exc, url) from exc
    finally:
        resp.release()


class SseParser:
    r"""The event stream format of the HTML standard (server-sent events), fed text as it arrives: lines end with
    CRLF, LF or CR (a CR at the end of one piece may be the first half of a CRLF); `field: value` loses one
    leading space of the value, no more; `:` starts a comment; a blank line dispatches the event, whose data
    lines are joined with LF; `event` names it (default `message`); an event still open when the stream ends
    is dropped, as the standard says.

        >>> p = SseParser()
        >>> p.feed("event: a\r\ndata:  two spaces\rdata:x\r")
        []
        >>> p.feed("\n\r\n: comment\n\n")
        [('a', ' two spaces\nx')]
    """

    def __init__(self) -> None:
        self.pending = ""  # text of a line not yet ended
        self.skip_lf = False  # the last piece ended with CR: an LF opening the next one belongs to it
        self.first = True  # a byte order mark may open the stream
        self.event, self.data = "", list[str]()

    def feed(self, text: str) -> list[tuple[str, str]]:
        if self.first and text:
            self.first, text = False, text.removeprefix("\ufeff")
        if self.skip_lf and text.startswith("\n"):
            text = text[1:]
        self.skip_lf = False
        out: list[tuple[str, str]] = []
        lines = (self.pending + text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
        self.pending = lines.pop()
        if text.endswith("\r"):
            self.skip_lf = True
        for line in lines:
            dispatched = self._line(line)
            if dispatched is not None:
                out.append(dispatched)
        return out

    def _line(self, line: str) -> tuple[str, str] | None:
        if not line:
            event, data = self.event or "message", self.data
            self.event, self.data = "", []
            return (event, "\n".join(data)) if data else None
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self.event = value
        elif name == "data":
            self.data.append(value)
        return None


async def sse_events(response: aiohttp.ClientResponse, url: str) -> AsyncIterator[tuple[str, str]]:
    """(event name, data) pairs of a server-sent event stream; network errors become UpstreamError."""
    parser = SseParser()
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    try:
        async for chunk in response.content.iter_any():
            for event in parser.feed(decoder.decode(chunk)):
                yield event
    except (aiohttp.ClientError, TimeoutError, asyncio.IncompleteReadError) as exc:
        raise translate(exc, url) from exc
    for event in parser.feed(decoder.decode(b"", final=True)):
        yield event


def load_event(data: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except json.JSONDecodeError as exc:
        raise UpstreamError("upstream sent a stream event that is not JSON", status=502) from exc
    if not isinstance(value, dict):
        raise UpstreamError("upstream sent a stream event that is not an object", status=502)
    return value
