"""The clock the gateway goes by: a fake one moves only when told, wakes its sleepers from any thread, and the
modules whose behaviour is time read no other clock."""

from __future__ import annotations

import asyncio
import doctest
import re
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway import clock as clock_module
from gateway.clock import FakeClock, SystemClock, wait_for_event

REPO = Path(__file__).resolve().parents[1]
# what behaves by time, and takes the services' clock for it
ON_THE_CLOCK = [
    "gateway/approvals/limits.py",
    "gateway/approvals/queue.py",
    "gateway/approvals/session.py",
    "gateway/approvals/signins.py",
    "gateway/approvals/web.py",
    "gateway/audit/anchors.py",
    "gateway/audit/refusals.py",
    "gateway/limits/limiter.py",
    "gateway/limits/reload.py",
    "gateway/mcp/catalog.py",
    "gateway/mcp/pins.py",
    "gateway/responses/store.py",
    "gateway/sessions/remember.py",
    "gateway/sessions/store.py",
]


def test_the_docstring_example_holds() -> None:
    assert doctest.testmod(clock_module).failed == 0


def test_a_fake_clock_stands_still_until_advanced() -> None:
    clock = FakeClock(datetime(2026, 3, 1, tzinfo=UTC))
    assert (clock.now(), clock.monotonic()) == (datetime(2026, 3, 1, tzinfo=UTC), 0.0)
    clock.advance(1.5)
    assert clock.now().isoformat() == "2026-03-01T00:00:01.500000+00:00" and clock.monotonic() == 1.5
    with pytest.raises(ValueError):
        clock.advance(-1)


async def test_a_sleeper_wakes_when_the_clock_passes_its_end_and_not_before() -> None:
    clock = FakeClock()
    sleeper = asyncio.create_task(clock.sleep(60))
    await asyncio.sleep(0)
    clock.advance(59.9)
    await asyncio.sleep(0.01)
    assert not sleeper.done()
    clock.advance(0.1)
    await asyncio.wait_for(sleeper, 1)
    await asyncio.wait_for(clock.sleep(0), 1)  # nothing to wait for


async def test_a_cancelled_sleeper_is_forgotten() -> None:
    clock = FakeClock()
    sleeper = asyncio.create_task(clock.sleep(10))
    await asyncio.sleep(0)
    sleeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeper
    assert clock._sleepers == []


def test_another_thread_moves_the_clock_of_a_loop_running_elsewhere() -> None:
    clock = FakeClock()
    asleep, woke = threading.Event(), threading.Event()

    async def serve() -> None:  # as a gateway served on a thread of its own
        sleeping = asyncio.create_task(clock.sleep(300))
        await asyncio.sleep(0)
        asleep.set()
        await sleeping
        woke.set()

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    assert asleep.wait(10)
    clock.advance(300)
    assert woke.wait(10)
    thread.join(10)


async def test_waiting_for_an_event_ends_with_the_event_or_the_clock() -> None:
    clock, event = FakeClock(), asyncio.Event()
    waiting = asyncio.create_task(wait_for_event(clock, event, 30))
    await asyncio.sleep(0)
    clock.advance(30)
    assert await asyncio.wait_for(waiting, 1) is False
    waiting = asyncio.create_task(wait_for_event(clock, event, 30))
    await asyncio.sleep(0)
    event.set()
    assert await asyncio.wait_for(waiting, 1) is True
    assert await wait_for_event(SystemClock(), asyncio.Event(), 0.01) is False


@pytest.mark.parametrize("module", ON_THE_CLOCK)
def test_what_behaves_by_time_reads_no_other_clock(module: str) -> None:
    source = (REPO / module).read_text()
    found = re.findall(r"datetime\.now\(|datetime\.utcnow\(|time\.time\(|time\.monotonic\(", source)
    assert "clock" in source and not found, f"{module} reads the time around the services' clock: {found}"
