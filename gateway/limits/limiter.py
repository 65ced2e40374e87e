"""Limits on what each caller may use, held in the store: every worker and replica counts in the same rows.

A call is matched against `limits` by its principal. Before it is decided, `reserve` takes from each matched
limit at once, all or nothing (`gateway.limits.ledger`): a request, a call in flight, and the tokens and money
the call may use at most (its input estimated from its text, its output bounded by `max_tokens` or
`usage.output_ceiling`, priced by `prices`). When the call ends, `settle` gives the reservation back and
counts what it really used: the provider's reported usage, or for a stream cut short the input and the
text delivered. So a budget is never passed by more than the estimate's error on calls in flight.

    >>> limiter = Limiter(db, Limits.of(settings))  # doctest: +SKIP
    >>> reservation = await limiter.reserve(call, settings.routes)  # doctest: +SKIP  (raises LimitReached)
    >>> await limiter.settle(reservation, Spent(120, 30, "gpt-4o-mini"))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from gateway.clock import SYSTEM_CLOCK, Clock
from gateway.errors import (
    BudgetExceeded,
    ConcurrencyLimited,
    LimitReached,
    PriceUnknown,
    RateLimited,
    StoreUnavailable,
)
from gateway.limits import ledger
from gateway.limits.config import LimitConfig, Price, UsageConfig
from gateway.limits.ledger import Entry, Level, Over
from gateway.limits.windows import bounds
from gateway.model import Call, ModelPayload, Principal, new_id
from gateway.pii.segments import segments
from gateway.settings import RouteConfig, Settings
from gateway.store.db import Database
from gateway.store.sqlite_thread import SqliteThread

T = TypeVar("T")
NANO = Decimal(1000)  # a price per million tokens is micro-dollars per token; counters hold nano-dollars
log = logging.getLogger("gateway.limits")


@dataclass(frozen=True)
class Limits:
    """The limits and prices in force (swapped whole on reload)."""

    limits: tuple[LimitConfig, ...] = ()
    prices: Mapping[str, Price] = field(default_factory=dict)
    usage: UsageConfig = field(default_factory=UsageConfig)

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(tuple(settings.limits), dict(settings.prices), settings.usage)

    def matching(self, principal: Principal) -> list[tuple[LimitConfig, str]]:
        """The limits that apply to `principal`, each with the subject it counts for."""
        out = []
        for limit in self.limits:
            subject = _subject(limit, principal)
            if subject is not None:
                out.append((limit, subject))
        return out


def _subject(limit: LimitConfig, principal: Principal) -> str | None:
    parts = []
    for name, wanted in limit.match.fields():
        value = principal.labels.get(name[6:]) if name.startswith("label.") else getattr(principal, name)
        if value is None or (wanted != "*" and value != wanted):
            return None
        parts.append(f"{name}={value}")
    subject = ",".join(parts) or "everyone"
    return subject if len(subject) <= 512 else subject[:440] + "#" + hashlib.sha256(subject.encode()).hexdigest()


@dataclass(frozen=True)
class Ask:
    """What one call may use at most: its input tokens (estimated), its output bound, and its price."""

    input_tokens: int
    output_tokens: int
    metered: bool  # tokens and money apply (a model or embeddings call); else requests and calls in flight only
    price: Price | None
    model: str
    known: bool = True  # the model is a configured route (or priced): an unknown one fails at the route stage


@dataclass(frozen=True)
class Spent:
    """What a call used, as it ended: tokens in and out, and the model that answered (for its price)."""

    input_tokens: int = 0
    output_tokens: int = 0
    model: str | None = None


@dataclass(frozen=True)
class Reservation:
    reservation_id: str | None  # None: nothing to give back (requests only)
    ask: Ask
    entries: tuple[Entry, ...]
    levels: tuple[Level, ...]
    limits: tuple[tuple[LimitConfig, str], ...]
    now: float

    def document(self) -> dict[str, Any]:
        """`input.usage`: each matched limit's counters (this call's share included) and what the call may use."""
        per_limit = []
        for limit, subject in self.limits:
            doc: dict[str, Any] = {"name": limit.label, "subject": subject, "match": dict(limit.match.fields())}
            for entry, level in zip(self.entries, self.levels, strict=True):
                if (entry.limit, entry.subject) == (limit.label, subject):
                    doc[_MEASURE_KEYS[entry.measure]] = _counter(limit, entry, level)
            per_limit.append(doc)
        ask = self.ask
        spend = _nano(ask.price, ask.input_tokens, ask.output_tokens, up=True) if ask.price and ask.metered else None
        call = {
            "input_tokens": ask.input_tokens if ask.metered else 0,
            "max_output_tokens": ask.output_tokens if ask.metered else 0,
            "max_spend_usd": float(spend / 1_000_000_000) if spend is not None else None,
        }
        return {"call": call, "limits": per_limit}

    def headers(self) -> dict[str, str]:
        """`x-ratelimit-*` as OpenAI sends them: the tightest requests and tokens limits that matched."""
        out: dict[str, str] = {}
        for measure, suffix in (("requests", "requests"), ("tokens", "tokens")):
            pairs = [(e, lv) for e, lv in zip(self.entries, self.levels, strict=True) if e.measure == measure]
            if not pairs:
                continue
            entry, level = min(pairs, key=lambda p: p[0].max - p[1].used - p[1].reserved)
            out[f"x-ratelimit-limit-{suffix}"] = str(entry.max)
            out[f"x-ratelimit-remaining-{suffix}"] = str(max(0, entry.max - level.used - level.reserved))
            out[f"x-ratelimit-reset-{suffix}"] = _duration(max(0.0, entry.window_end - self.now))
        return out


_MEASURE_KEYS = {"requests": "requests", "tokens": "tokens", "spend": "spend_usd", "concurrent": "concurrent"}


def _counter(limit: LimitConfig, entry: Entry, level: Level) -> dict[str, Any]:
    scale = 1_000_000_000 if entry.measure == "spend" else 1
    doc: dict[str, Any] = {
        "max": entry.max / scale if scale > 1 else entry.max,
        "used": level.used / scale if scale > 1 else level.used,
        "reserved": level.reserved / scale if scale > 1 else level.reserved,
        "remaining": max(0, entry.max - level.used - level.reserved) / scale
        if scale > 1
        else max(0, entry.max - level.used - level.reserved),
    }
    window = {"requests": limit.requests, "tokens": limit.tokens, "spend": limit.spend_usd}.get(entry.measure)
    if window is not None:
        doc["per"] = window.per
        doc["resets_at"] = datetime.fromtimestamp(entry.window_end, UTC).isoformat()
    return doc


def _duration(seconds: float) -> str:
    """As OpenAI writes a reset time: `1s`, `6m0s`, `1h2m3s`."""
    whole = math.ceil(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def _nano(price: Price | None, input_tokens: int, output_tokens: int, up: bool = False) -> int:
    if price is None:
        return 0
    cost = (Decimal(str(price.input)) * input_tokens + Decimal(str(price.output)) * output_tokens) * NANO
    return int(cost.to_integral_value(ROUND_CEILING if up else ROUND_HALF_UP))


class Limiter:
    def __init__(self, db: Database, limits: Limits, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.limits = limits
        self.clock = clock
        self._sqlite: SqliteThread | None = None
        self._pruned = 0.0
        self._settling: set[asyncio.Task[None]] = set()

    def _now(self) -> float:
        return self.clock.now().timestamp()

    @property
    def active(self) -> bool:
        return bool(self.limits.limits or self.limits.prices)

    def reload(self, limits: Limits) -> None:
        self.limits = limits

    def ask(self, call: Call, routes: Mapping[str, RouteConfig]) -> Ask | None:
        """What `call` may use at most; None for calls no limit applies to (reads and listings)."""
        if call.kind in ("read", "list"):
            return None
        payload = call.payload
        metered = call.kind in ("model", "embeddings") and not (
            isinstance(payload, ModelPayload) and payload.api == "count_tokens"
        )
        if not metered:
            return Ask(0, 0, False, None, call.target)
        texts = segments(payload)
        usage = self.limits.usage
        estimate = math.ceil(sum(len(t[2]) for t in texts) / usage.chars_per_token) + 4 * len(texts)
        output = 0
        if isinstance(payload, ModelPayload):
            output = payload.request.max_tokens or usage.output_ceiling
        known = call.target in routes or call.target in self.limits.prices
        return Ask(estimate, output, True, self._price(call.target, routes), call.target, known)

    def _price(self, alias: str, routes: Mapping[str, RouteConfig]) -> Price | None:
        """The alias's price, or the dearest of its targets' (None if one of them has none)."""
        prices = self.limits.prices
        if alias in prices:
            return prices[alias]
        route = routes.get(alias)
        if route is None:
            return None
        found = [prices.get(t.model) for t in route.targets()]
        if any(p is None for p in found):
            return None
        known = [p for p in found if p is not None]
        return Price(input=max(p.input for p in known), output=max(p.output for p in known))

    def price_of(self, alias: str, model: str | None) -> Price | None:
        prices = self.limits.prices
        return prices.get(alias) or (prices.get(model) if model else None)

    async def reserve(self, call: Call, routes: Mapping[str, RouteConfig]) -> Reservation | None:
        """Take from every limit that applies to the call, or raise the `LimitReached` of the first one it
        would pass (`PriceUnknown`: a money limit applies and the model has no price)."""
        ask = self.ask(call, routes)
        matched = self.limits.matching(call.principal)
        if ask is None or not matched:
            return None
        now = self._now()
        entries = self._entries(ask, matched, now)
        hold = None
        if any(e.measure != "requests" for e in entries):
            expires = datetime.fromtimestamp(now + self.limits.usage.lease_s, UTC)
            hold = (new_id(), call.request_id[:64], expires)
        try:
            levels = await self._run(lambda conn: ledger.take(conn, entries, hold))
        except Over as over:
            raise _refusal(over, matched, now) from None
        return Reservation(hold[0] if hold else None, ask, tuple(entries), tuple(levels), tuple(matched), now)

    def _entries(self, ask: Ask, matched: Sequence[tuple[LimitConfig, str]], now: float) -> list[Entry]:
        zone = ZoneInfo(self.limits.usage.timezone)
        out = []
        money = any(limit.spend_usd for limit, _ in matched)
        if ask.metered and ask.known and money and ask.price is None and self.limits.usage.unknown_price == "deny":
            raise PriceUnknown(ask.model)
        tokens = ask.input_tokens + ask.output_tokens
        spend = _nano(ask.price, ask.input_tokens, ask.output_tokens, up=True)
        for limit, subject in matched:
            name = limit.label

            def entry(measure: str, per: str | None, amount: int, max: int, field: ledger.Field) -> Entry:
                start, end = bounds(per, now, zone) if per else (0, 0)
                return Entry(name, subject, measure, start, end, amount, max, field)  # noqa: B023

            if limit.requests:
                out.append(entry("requests", limit.requests.per, 1, limit.requests.max, "used"))
            if limit.tokens and ask.metered:
                out.append(entry("tokens", limit.tokens.per, tokens, limit.tokens.max, "reserved"))
            if limit.spend_usd and ask.metered:
                cap = int(Decimal(str(limit.spend_usd.max)) * 1_000_000_000)
                out.append(entry("spend", limit.spend_usd.per, spend, cap, "reserved"))
            if limit.concurrent:
                out.append(entry("concurrent", None, 1, limit.concurrent, "used"))
        return out

    async def settle(self, reservation: Reservation, spent: Spent) -> None:
        """Give the reservation back and count what the call used. Never raises: a store that fails now leaves
        the reservation to the sweep, which counts it as spent."""
        if reservation.reservation_id is None:
            return
        ask = reservation.ask
        used: dict[str, int] = {}
        if ask.metered:
            price = self.price_of(ask.model, spent.model) or ask.price
            used = {
                "tokens": spent.input_tokens + spent.output_tokens,
                "spend": _nano(price, spent.input_tokens, spent.output_tokens),
            }
        reservation_id = reservation.reservation_id
        try:
            await self._run(lambda conn: ledger.give_back(conn, reservation_id, used))
        except StoreUnavailable:
            log.error("usage of reservation %s not settled now (the store failed); the sweep will", reservation_id)

    def settle_soon(self, reservation: Reservation, spent: Spent) -> None:
        """`settle`, after the call's answer has gone: the reservation holds its share meanwhile (so a limit only
        errs on the side of holding), and closing the limiter waits for what is still settling."""
        task = asyncio.get_running_loop().create_task(self.settle(reservation, spent))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def sweep(self) -> int:
        """End reservations whose calls died with their process; drop counters of long-ended windows."""
        now = self._now()
        ended = await self._run(lambda conn: ledger.sweep(conn, datetime.fromtimestamp(now, UTC)))
        if now - self._pruned > 3600:
            cutoff = int(now - self.limits.usage.keep_days * 86_400)
            await self._run(lambda conn: ledger.prune(conn, cutoff))
            self._pruned = now
        return ended

    async def sweeping(self, every_s: float = 30.0) -> None:
        """Sweep now and then, for as long as the gateway runs."""
        while True:
            await self.clock.sleep(every_s)
            try:
                ended = await self.sweep()
            except StoreUnavailable:
                continue
            if ended:
                log.warning("released %d reservations of calls that never ended (their process died)", ended)

    async def counters(self, limit: str | None = None) -> list[Any]:
        now = int(self._now())
        return await self._run(lambda conn: ledger.counters(conn, now, limit))

    async def set_used(self, limit: LimitConfig, subject: str, measure: str, used: int) -> int:
        """Set the settled usage of one counter of `limit`'s running window (counter units); the value it had."""
        per = {"requests": limit.requests, "tokens": limit.tokens, "spend": limit.spend_usd}.get(measure)
        now = self._now()
        start, end = bounds(per.per, now, ZoneInfo(self.limits.usage.timezone)) if per is not None else (0, 0)
        key = (limit.label, subject, measure, start)
        return await self._run(lambda conn: ledger.adjust(conn, key, end, used))

    async def _run(self, work: Callable[[Connection], T]) -> T:
        """`work` in one transaction: on the SQLite writer's own thread (one hop), or on PostgreSQL within the
        store's deadline. A store that fails is a 503; `Over` rolls the transaction back and is raised."""
        try:
            if self.db.sqlite_file is not None:
                if self._sqlite is None:
                    self._sqlite = SqliteThread(self.db.sqlite_file)
                return await self._sqlite.run(work)
            async with self.db.deadline(), self.db.engine.begin() as conn:
                return await conn.run_sync(work)
        except (SQLAlchemyError, OSError) as exc:
            raise StoreUnavailable("the store is unavailable; try again shortly") from exc

    async def aclose(self) -> None:
        if self._settling:
            await asyncio.wait(set(self._settling), timeout=10)
        if self._sqlite is not None:
            with contextlib.suppress(Exception):
                await self._sqlite.aclose()


def _refusal(over: Over, matched: Sequence[tuple[LimitConfig, str]], now: float) -> LimitReached:
    entry, level = over.entry, over.level
    limit = next(limit for limit, subject in matched if (limit.label, subject) == (entry.limit, entry.subject))
    if entry.measure == "concurrent":
        return ConcurrencyLimited(entry.limit, "calls in flight", None, level.used, entry.max, 1)
    wait = max(1, math.ceil(entry.window_end - now))
    if entry.measure == "spend":
        per = limit.spend_usd.per if limit.spend_usd else None
        used = (level.used + level.reserved) / 1_000_000_000
        return BudgetExceeded(entry.limit, "spend_usd", per, used, entry.max / 1_000_000_000, wait)
    rate = limit.requests if entry.measure == "requests" else limit.tokens
    per = rate.per if rate else None
    return RateLimited(entry.limit, entry.measure, per, level.used + level.reserved, entry.max, wait)
