"""Small helpers shared by the tests."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from gateway.audit.records import AuditLog
from gateway.store.db import Database

T = TypeVar("T")


def wait_until(
    read: Callable[[], T],
    done: Callable[[T], object] = bool,
    timeout_s: float = 10,
    every_s: float = 0.05,
    failure: str = "not done",
) -> T:
    """Call `read` until `done` holds for what it returns, and return that; fail (`failure`, and the last value)
    once `timeout_s` passed. For what real I/O makes true (a process is up, a row is committed): time-based
    behaviour goes by a `gateway.clock.FakeClock` that the test moves instead."""
    deadline = time.monotonic() + timeout_s
    while not done(value := read()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{failure} after {timeout_s} s; last seen: {value!r}"[:2000])
        time.sleep(every_s)
    return value


async def eventually(
    read: Callable[[], Awaitable[T]],
    done: Callable[[T], object] = bool,
    timeout_s: float = 10,
    every_s: float = 0.02,
    failure: str = "not done",
) -> T:
    """`wait_until` for a coroutine function, on the running loop."""
    deadline = time.monotonic() + timeout_s
    while not done(value := await read()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{failure} after {timeout_s} s; last seen: {value!r}"[:2000])
        await asyncio.sleep(every_s)
    return value


def audit_rows(database_url: str, wait_for: int = 0) -> list[dict[str, Any]]:
    """Audit rows, oldest first; waits briefly for `wait_for` rows (stream records land after the last byte)."""

    async def read() -> list[dict[str, Any]]:
        db = Database(database_url)
        try:
            return [row async for row in AuditLog(db).read()]
        finally:
            await db.aclose()

    deadline = time.monotonic() + 5
    rows = asyncio.run(read())
    while len(rows) < wait_for and time.monotonic() < deadline:
        time.sleep(0.05)
        rows = asyncio.run(read())
    return rows


_OPEN_CLIENTS: list[Any] = []


def track(client: Any) -> Any:
    """Remember an SDK client so the autouse fixture closes it (unclosed sockets fail the run)."""
    _OPEN_CLIENTS.append(client)
    return client


def close_clients() -> None:
    while _OPEN_CLIENTS:
        _OPEN_CLIENTS.pop().close()


_FENCE = re.compile(r"^```json[ \t]+(input|decision)(?:[ \t]+([\w-]+))?[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def documented_blocks(reference: Path) -> list[tuple[str, str | None, Any, int]]:
    """(kind, example or None, parsed JSON, line) for every ```json input|decision block of a doc."""
    text = reference.read_text()
    found = []
    for m in _FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        try:
            doc = json.loads(m.group(3))
        except ValueError as exc:
            pytest.fail(f"{reference.name}:{line}: ```json {m.group(1)} block is not JSON: {exc}")
        found.append((m.group(1), m.group(2), doc, line))
    return found


# a Responses function tool with `strict`, as the SDKs send it
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "strict": True,
}
