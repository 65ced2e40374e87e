"""Requests refused for a missing or bad credential, in the audit log without letting a flood grow it unbounded.

Each such refusal is counted in `gateway_auth_failures_total{surface,reason}`. In the log, the first refusal of
each (address, surface, reason) in a window of a minute is written in full, as it happens, up to `written` of
them a window; the others are counted, and written as one summary event per (surface, event, error code) and
window: "N requests refused from ADDRESS in the last minute: REASON", the busiest addresses first. A flood of
bad keys from one address, or from many, adds a bounded number of rows a minute (per worker process).

    >>> sampler = RefusalSampler()
    >>> [sampler.admit(event, "203.0.113.9") for _ in range(3)]  # doctest: +SKIP
    [True, False, False]
    >>> [e.reasons for e in sampler.take(everything=True)]  # doctest: +SKIP
    [['2 requests refused from 203.0.113.9 in the last minute: unknown or revoked agent key']]
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from gateway.audit.events import AuditEvent, EventType
from gateway.clock import SYSTEM_CLOCK, Clock
from gateway.model import new_id

WINDOW_S = 60.0
WRITTEN = 20  # refusals written in full per window, whatever their addresses
SOURCES = 10_000  # (address, reason) pairs counted apart per window; the rest share one count
NAMED = 20  # addresses a summary names, the busiest first

Group = tuple[str, EventType, str | None]  # (surface, event, error code): one summary event each
Source = tuple[str, str]  # (address, reason)


@dataclass
class _Window:
    started: float
    written: set[tuple[str, Group, str]] = field(default_factory=set)
    suppressed: dict[Group, Counter[Source]] = field(default_factory=dict)
    sources: int = 0


class RefusalSampler:
    def __init__(self, window_s: float = WINDOW_S, written: int = WRITTEN, clock: Clock = SYSTEM_CLOCK) -> None:
        self.window_s = window_s
        self.written = written
        self.clock = clock
        self._window = _Window(clock.monotonic())
        self._due: list[AuditEvent] = []

    def admit(self, event: AuditEvent, address: str) -> bool:
        """Whether to write `event` (a refusal of a request from `address`) now; if not, it is counted."""
        self._roll()
        window, reason = self._window, event.reasons[0] if event.reasons else (event.error_code or "refused")
        group: Group = (event.surface, event.event, event.error_code)
        key = (address, group, reason)
        if key not in window.written and len(window.written) < self.written:
            window.written.add(key)
            event.detail = f"{event.detail}; from {address}" if event.detail else f"from {address}"
            return True
        counts = window.suppressed.setdefault(group, Counter())
        source = (address, reason)
        if source not in counts and window.sources >= SOURCES:
            source = ("other addresses", reason)  # memory stays bounded under a flood of addresses
        window.sources += source not in counts
        counts[source] += 1
        return False

    def take(self, everything: bool = False) -> list[AuditEvent]:
        """The summaries of windows that ended (with `everything`, of the current one too: at shutdown)."""
        self._roll()
        if everything:
            self._due += _summaries(self._window, self.window_s)
            self._window = _Window(self.clock.monotonic())
        due, self._due = self._due, []
        return due

    def _roll(self) -> None:
        now = self.clock.monotonic()
        if now - self._window.started >= self.window_s:
            self._due += _summaries(self._window, self.window_s)
            self._window = _Window(now)


def _summaries(window: _Window, window_s: float) -> list[AuditEvent]:
    return [_summary(group, counts, window_s) for group, counts in window.suppressed.items()]


def _summary(group: Group, counts: Counter[Source], window_s: float) -> AuditEvent:
    surface, event, error_code = group
    span = "the last minute" if window_s == WINDOW_S else f"the last {window_s:g} s"
    busiest = counts.most_common(NAMED)
    reasons = [f"{n} requests refused from {address} in {span}: {reason}" for (address, reason), n in busiest]
    rest = counts.total() - sum(n for _, n in busiest)
    if rest:
        reasons.append(f"{rest} more requests refused from {len(counts) - len(busiest)} other sources in {span}")
    total = counts.total()
    return AuditEvent(
        event=event,
        decision_id=new_id(),
        call_id=new_id(),
        request_id=new_id(),
        surface=surface,
        reasons=reasons,
        error_code=error_code,
        detail=f"summary: {total} refused requests not written one by one (the first per address and reason is)",
    )
