"""The time the gateway goes by: one `Clock`, built with the services (`services.clock`) and handed to what
behaves by time, so a test moves it instead of waiting.

Go by the clock for time that is behaviour: deadlines and expiries (approvals, sign-ins, sessions, kept
responses), counting windows (failed sign-ins, refusal summaries, budgets), caches (agent keys) and the
intervals of periodic work (checkpoints, anchoring, the expiry sweep). Keep `asyncio.sleep` and
`asyncio.timeout` for waits on real I/O (a retry's backoff, polling another process, an upstream's timeout,
keep-alives a proxy must see), and `time.perf_counter` for measuring how long something took.

`SystemClock` is the real one. `FakeClock` stands still until a test moves it:

    >>> clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    >>> clock.advance(90)
    >>> clock.now().isoformat(), clock.monotonic()
    ('2026-01-01T00:01:30+00:00', 90.0)

A task sleeping on it (`await clock.sleep(60)`) wakes when `advance` moves the clock past its end, whatever
thread moves it (a test drives a gateway served on a thread of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The wall-clock time, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for intervals; its zero means nothing)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once `seconds` have passed on this clock."""
        ...


@dataclass(frozen=True, slots=True)
class SystemClock:
    """The real time: `datetime.now(UTC)`, `time.monotonic()`, `asyncio.sleep`."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK = SystemClock()  # stateless: the default of what is built outside the services (the CLI's stores)


class FakeClock:
    """A clock for tests: it starts at `start` (default: the real time now) and moves only by `advance`."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime.now(UTC)
        self._elapsed = 0.0
        self._lock = threading.Lock()
        self._sleepers: list[tuple[float, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    def sleep(self, seconds: float) -> Coroutine[Any, Any, None]:
        """Its end is set when it is called, not when it is first awaited: an `advance` in between counts."""
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()
        with self._lock:
            sleeper = (self._elapsed + max(0.0, seconds), loop, woken)
            if sleeper[0] > self._elapsed:
                self._sleepers.append(sleeper)
            else:
                woken.set_result(None)
        return self._asleep(sleeper)

    async def _asleep(self, sleeper: tuple[float, asyncio.AbstractEventLoop, asyncio.Future[None]]) -> None:
        try:
            await sleeper[2]
        finally:
            with self._lock, contextlib.suppress(ValueError):
                self._sleepers.remove(sleeper)

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds`; wake the tasks whose sleep ends by then."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        with self._lock:
            self._elapsed += seconds
            due = [s for s in self._sleepers if s[0] <= self._elapsed]
            self._sleepers = [s for s in self._sleepers if s[0] > self._elapsed]
        for _, loop, woken in due:
            with contextlib.suppress(RuntimeError):  # that loop has closed: nobody is left to wake
                loop.call_soon_threadsafe(_wake, woken)


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)


async def wait_for_event(clock: Clock, event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set or `seconds` pass on `clock`, whichever is first; whether it was set."""
    if event.is_set():
        return True
    waiters = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(clock.sleep(seconds))]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
    return event.is_set()
