"""Shared HTTP plumbing for connectors: one pooled client, error translation, SSE reading."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from connectors.errors import UpstreamError, UpstreamHTTPError, UpstreamTimeout, UpstreamUnavailable


def new_client() -> httpx.AsyncClient:
    """The one long-lived client all connectors share (connection pooling, no env proxies)."""
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50, keepalive_expiry=30)
    return httpx.AsyncClient(limits=limits, trust_env=False, timeout=60.0)


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return json.dumps(body)[:500]


def translate(exc: httpx.HTTPError, url: str) -> UpstreamError:
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"upstream {url} timed out")
    return UpstreamUnavailable(f"upstream {url} unreachable: {type(exc).__name__}")


async def post_json(client: httpx.AsyncClient, url: str, body: Any, headers: dict[str, str], timeout: float) -> Any:
    try:
        response = await client.post(url, json=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise translate(exc, url) from exc
    if response.status_code >= 400:
        raise UpstreamHTTPError(
            f"upstream answered {response.status_code}: {_error_message(response)}", status=response.status_code
        )
    try:
        return response.json()
    except ValueError as exc:
        raise UpstreamError("upstream sent a body that is not JSON", status=502) from exc


@asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient, url: str, body: Any, headers: dict[str, str], timeout: float
) -> AsyncIterator[httpx.Response]:
    request = client.build_request("POST", url, json=body, headers=headers, timeout=timeout)
    try:
        response = await client.send(request, stream=True)
    except httpx.HTTPError as exc:
        raise translate(exc, url) from exc
    try:
        if response.status_code >= 400:
            await response.aread()
            raise UpstreamHTTPError(
                f"upstream answered {response.status_code}: {_error_message(response)}", status=response.status_code
            )
        yield response
    finally:
        await response.aclose()


async def sse_events(response: httpx.Response, url: str) -> AsyncIterator[tuple[str, str]]:
    """(event name, data) pairs of a server-sent event stream; network errors become UpstreamError."""
    event, data = "message", list[str]()
    try:
        async for line in response.aiter_lines():
            if not line:
                if data:
                    yield event, "\n".join(data)
                event, data = "message", list[str]()
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
    except httpx.HTTPError as exc:
        raise translate(exc, url) from exc
    if data:
        yield event, "\n".join(data)


def load_event(data: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except json.JSONDecodeError as exc:
        raise UpstreamError("upstream sent a stream event that is not JSON", status=502) from exc
    if not isinstance(value, dict):
        raise UpstreamError("upstream sent a stream event that is not an object", status=502)
    return value
