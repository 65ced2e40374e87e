"""The activity console under /ui/ for audit readers: the live feed and search (`/ui/activity`), one call whole
(`/ui/calls/{call_id}`) and each event's inclusion proof, and per agent figures for a period (`/ui/overview`,
its charts inline SVG drawn here: nothing is loaded from elsewhere).

Who sees it is a right of its own: a signed-in reviewer whose groups include one of `audit.readers` (a reviewer
who only approves is refused, and the refusal audited). Looking is not a governance event; exporting is (it goes
through the admin export, `gateway.audit.api`). Pages show what the audit log holds: names, counts, reasons,
PII types and where they were found, never values. The live feed is server-sent events read from the store by
sequence number, so it shows the calls of every worker and replica.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from gateway.approvals.session import ReviewerSession, refuse, services_of
from gateway.approvals.web import SECURITY_HEADERS, Handler, _message, _render, reviewer_only
from gateway.audit.api import stream_export
from gateway.audit.events import EVENT_TYPES
from gateway.audit.overview import overview
from gateway.audit.proofs import ProofError, prove
from gateway.audit.search import (
    OUTCOMES,
    PENDING,
    Search,
    after,
    events_of,
    last_seq,
    search,
    search_calls,
    session_calls,
)
from gateway.errors import AccessDenied
from gateway.limits.config import Price

PAGE = 50
POLL_S = 0.25  # the live feed's look at the store: a call shows within a second, on any replica
FEED_LIFETIME_S = 600.0  # then the browser reconnects (and the session is checked again)
TEXT_FILTERS = (
    "agent",
    "team",
    "target",
    "outcome",
    "event",
    "pii",
    "tool",
    "reason",
    "decision_id",
    "request_id",
    "session",
)


def reader_only(handler: Handler) -> Any:
    """A signed-in reviewer in an `audit.readers` group; anyone else is refused (403, audited)."""

    async def guarded(request: Request, session: ReviewerSession) -> Response:
        services, _, _ = services_of(request)
        if not set(session.groups) & set(services.settings.audit.readers):
            problem = f"reviewer {session.name} is not an audit reader (audit.readers)"
            await refuse(services, f"{problem}: {request.url.path}", actor=session.name)
            raise AccessDenied(403, "forbidden", f"{problem}: the activity console is a right of its own")
        return await handler(request, session)

    return reviewer_only(guarded)


class BadSearch(ValueError):
    pass


def _time(value: str, name: str) -> datetime | None:
    """An ISO 8601 time (a browser's `datetime-local` has no zone: it is read as UTC, as the page shows times)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadSearch(f"{name}: {value[:40]!r} is not a date and time") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def search_of(request: Request) -> Search:
    q = request.query_params
    text = {name: q.get(name, "").strip()[:200] for name in TEXT_FILTERS}
    if text["outcome"] and text["outcome"] not in OUTCOMES:
        raise BadSearch(f"outcome must be one of {', '.join(OUTCOMES)}")
    if text["event"] and text["event"] not in EVENT_TYPES:
        raise BadSearch(f"event must be one of {', '.join(EVENT_TYPES)}")
    return Search(since=_time(q.get("since", ""), "since"), until=_time(q.get("until", ""), "until"), **text)


def outcome_of(event: dict[str, Any]) -> str:
    """What one event says about its call, as the console names it (`gateway.audit.search.OUTCOMES`)."""
    if event["event"] == "decision":
        return "allowed" if event["allow"] else "denied"
    if event["event"] == "outcome":
        return "held" if event["error_code"] == PENDING else "failed" if event["error_code"] else "served"
    return str(event["event"])


def pii_counts(event: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(type, how many, where) per PII type found: never a value."""
    counts: Counter[str] = Counter()
    where: dict[str, set[str]] = {}
    for finding in event.get("pii") or []:
        kind = str(finding.get("type", "?"))
        counts[kind] += int(finding.get("count", 1) or 1)
        places = finding.get("where") or []
        where.setdefault(kind, set()).update([places] if isinstance(places, str) else map(str, places))
    return [(kind, n, ", ".join(sorted(where[kind]))) for kind, n in sorted(counts.items())]


def line(event: dict[str, Any]) -> dict[str, Any]:
    """One event as a step of a call's timeline."""
    tokens = (event["input_tokens"] or 0) + (event["output_tokens"] or 0)
    return {
        "seq": event["seq"],
        "ts": event["ts"][:19].replace("T", " "),
        "tokens": str(tokens) if tokens else "",
    }


def fell_back(events: list[dict[str, Any]]) -> bool:
    """The call was answered by another target than the first it tried (a fallback), or tried one again."""
    attempts = max((e.get("attempts") or [] for e in events), key=len, default=[])
    return len(attempts) > 1


def call_outcomes(events: list[dict[str, Any]]) -> list[str]:
    """What happened to a call, in the order it happened: allowed or denied, redacted, held and how that ended,
    fell back, and how it ended (served or failed); each named once."""
    seen: list[str] = []
    for event in events:
        name = outcome_of(event)
        if event["event"] == "decision" and event["phase"] == "response":
            # the call's end: its answer was let through (served), or refused
            name = "denied" if not event["allow"] else "failed" if event["error_code"] else "served"
        if name in ("refused", "released", "shadow") or name in seen:
            continue
        seen.append(name)
    if fell_back(events):
        end = len(seen) - 1 if seen and seen[-1] in ("served", "failed", "denied") else len(seen)
        seen.insert(end, "fell back")
    return seen


def _verdict(outcomes: list[str]) -> str:
    """The one word a call's line leads with."""
    for word in ("denied", "failed", "rejected", "expired", "served"):
        if word in outcomes:
            return word
    if "held" in outcomes and "approved" not in outcomes:
        return "held"
    return outcomes[-1] if outcomes else "allowed"


def cost(prices: dict[str, Price], target: str | None, model: str | None, tokens: tuple[int, int]) -> float | None:
    """US dollars of a call's tokens at the configured price of its route alias (or upstream model)."""
    price = prices.get(target or "") or prices.get(model or "")
    if price is None or not any(tokens):
        return None
    return (tokens[0] * price.input + tokens[1] * price.output) / 1_000_000


def call_line(seq: int, events: list[dict[str, Any]], prices: dict[str, Price]) -> dict[str, Any]:
    """One call as a line of the feed (also sent as JSON to the live page): who, what, how it ended, what it
    found, what it cost and took. `seq` places it (its newest event the list matched)."""
    first = next((e for e in events if e["event"] == "decision"), events[0])
    last = events[-1]
    outcomes = call_outcomes(events)
    used = max(((e["input_tokens"] or 0, e["output_tokens"] or 0) for e in events), key=sum)
    model = next((e["upstream_model"] for e in events if e["upstream_model"]), None)
    spent = cost(prices, first["target"], model, used)
    injection = max((float((e.get("injection") or {}).get("score") or 0) for e in events), default=0.0)
    total_ms = max(e["total_ms"] or 0 for e in events)
    reasons = [r for e in events if e["event"] == "decision" for r in e["reasons"] or []]
    return {
        "seq": seq,
        "last": last["seq"],
        "ts": first["ts"][:19].replace("T", " "),
        "call_id": first["call_id"],
        "agent": first["agent"] or "—",
        "team": first["team"] or "",
        "kind": f"{first['surface']} · {first['kind']}",
        "target": first["target"] or "—",
        "outcome": _verdict(outcomes),
        "outcomes": outcomes,
        "pii": " ".join(sorted({str(p.get("type", "?")) for e in events for p in e.get("pii") or []})),
        "injection": f"{injection:.2f}" if injection else "",
        "tokens": str(sum(used)) if any(used) else "",
        "cost": f"${spent:.4f}" if spent is not None else "",
        "latency": f"{total_ms:.0f} ms" if total_ms else "",
        "reasons": "; ".join(dict.fromkeys(reasons)),
    }


def _url(path: str, query: dict[str, str]) -> str:
    return f"{path}?{urlencode(query)}" if query else path


async def activity_page(request: Request, session: ReviewerSession) -> Response:
    services, _, _ = services_of(request)
    try:
        wanted = search_of(request)
        before = int(request.query_params["before"]) if request.query_params.get("before") else None
        found = await search_calls(services.db, wanted, limit=PAGE, before=before)
    except (BadSearch, ValueError) as exc:
        return _message(request, 400, "Bad search", str(exc), session)
    prices = services.settings.prices
    lines = [call_line(seq, events, prices) for seq, events in found if events]
    query = wanted.query()
    context: dict[str, Any] = {
        "session": session,
        "page": "activity",
        "search": wanted,
        "lines": lines,
        "outcomes": list(OUTCOMES),
        "event_types": EVENT_TYPES,
        "newest": await last_seq(services.db) if before is None else None,
        "feed_url": _url("/ui/activity/events", query),
        "older": _url("/ui/activity", {**query, "before": str(found[-1][0])}) if len(found) == PAGE else None,
        "newer": _url("/ui/activity", query) if before is not None else None,
        "export": {fmt: _url("/ui/activity/export", {**query, "format": fmt}) for fmt in ("jsonl", "csv")},
        "since": request.query_params.get("since", ""),
        "until": request.query_params.get("until", ""),
    }
    return _render(request, "activity.html", **context)


async def feed(request: Request, session: ReviewerSession) -> Response:
    services, _, _ = services_of(request)
    try:
        wanted = search_of(request)
        # a reconnecting browser says the last event it saw; else the page says where its list ends
        seen = request.headers.get("last-event-id") or request.query_params.get("after")
        start = int(seen) if seen else await last_seq(services.db)
    except (BadSearch, ValueError) as exc:
        return JSONResponse({"ok": False, "message": str(exc)}, 400)
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    prices = services.settings.prices
    feed = _feed(services.db, wanted, start, prices)
    return StreamingResponse(feed, media_type="text/event-stream", headers=headers)


async def _feed(db: Any, wanted: Search, seq: int, prices: dict[str, Price]) -> AsyncIterator[str]:
    """Calls with new matching events as `call` events: the call's whole line as it stands (the page puts it on
    top, in place of its older line), its `id` the newest event's seq, so a reconnecting browser resumes after
    the last it saw; a comment while there are none, and an end after FEED_LIFETIME_S."""
    loop = asyncio.get_running_loop()
    deadline, quiet = loop.time() + FEED_LIFETIME_S, 0
    yield "retry: 1000\n: connected\n\n"
    while loop.time() < deadline:
        found = await after(db, seq, wanted)
        newest: dict[str, int] = {}
        for event in found:
            newest.pop(event["call_id"], None)
            newest[event["call_id"]] = event["seq"]
        calls = await events_of(db, list(newest))
        for call, last in newest.items():
            seq = last
            if calls.get(call):
                yield f"id: {seq}\nevent: call\ndata: {json.dumps(call_line(last, calls[call], prices))}\n\n"
        quiet = 0 if found else quiet + 1
        if quiet and quiet % 60 == 0:
            yield ": keep-alive\n\n"
        await asyncio.sleep(POLL_S)


async def export(request: Request, session: ReviewerSession) -> Response:
    """The search as JSON lines or CSV, through the admin export (so it is audited the same way)."""
    services, _, _ = services_of(request)
    return await stream_export(request, services, session.reviewer)


async def call_page(request: Request, session: ReviewerSession) -> Response:
    services, _, _ = services_of(request)
    call_id = request.path_params["call_id"]
    events = list(reversed(await search(services.db, Search(call_id=call_id), limit=500)))
    if not events:
        return _message(request, 404, "Not found", f"No audit event belongs to call {call_id[:64]}.", session)
    first = events[0]
    steps = [{"e": e, "outcome": outcome_of(e), "pii": pii_counts(e), "line": line(e)} for e in events]
    chain = await session_calls(services.db, first["session"]) if first.get("session") else []
    context: dict[str, Any] = {
        "session": session,
        "page": "activity",
        "call": first,
        "steps": steps,
        "summary": call_line(events[-1]["seq"], events, services.settings.prices),
        "chain": chain,
    }
    return _render(request, "call.html", **context)


async def proof(request: Request, session: ReviewerSession) -> Response:
    """The inclusion proof of one event of the call (`gateway audit verify --proof FILE` checks it)."""
    services, _, _ = services_of(request)
    call_id, decision_id = request.path_params["call_id"], request.path_params["decision_id"]
    if not await search(services.db, Search(call_id=call_id, decision_id=decision_id), limit=1):
        return _message(request, 404, "Not found", "That event is not part of this call.", session)
    try:
        document = await prove(services.db, decision_id)
    except ProofError as exc:
        return _message(request, 409, "No proof yet", str(exc), session)
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="proof-{decision_id}.json"'}
    return Response(json.dumps(document, indent=2), media_type="application/json", headers=headers)


BAR_WIDTH = 520  # the charts' longest bar, in SVG units


def bars(items: list[tuple[str, int, int]]) -> list[dict[str, Any]]:
    """Horizontal bars for (label, value, part of it to mark, e.g. denials), scaled to the largest value."""
    top = max((value for _, value, _ in items), default=0) or 1
    return [
        {"label": label, "value": value, "part": part, "w": BAR_WIDTH * value / top, "pw": BAR_WIDTH * part / top}
        for label, value, part in items
    ]


async def overview_page(request: Request, session: ReviewerSession) -> Response:
    services, _, _ = services_of(request)
    now = services.clock.now().astimezone(UTC).replace(microsecond=0)
    q = request.query_params
    try:
        since = _time(q.get("since", ""), "since") or now - timedelta(days=1)
        until = _time(q.get("until", ""), "until") or now + timedelta(seconds=1)
    except BadSearch as exc:
        return _message(request, 400, "Bad period", str(exc), session)
    report = await overview(services.db, since, until, services.settings.prices)
    context: dict[str, Any] = {
        "session": session,
        "page": "overview",
        "report": report,
        "since": since.strftime("%Y-%m-%dT%H:%M:%S"),
        "until": until.strftime("%Y-%m-%dT%H:%M:%S"),
        "calls_chart": bars([(f"{a.agent}", a.calls, min(a.denials, a.calls)) for a in report.agents[:15]]),
        "pii_chart": bars([(kind, n, 0) for kind, n in report.pii.most_common(10)]),
        "bar_width": BAR_WIDTH,
    }
    return _render(request, "overview.html", **context)


routes: list[BaseRoute] = [
    Route("/ui/overview", reader_only(overview_page), methods=["GET"]),
    Route("/ui/activity", reader_only(activity_page), methods=["GET"]),
    Route("/ui/activity/events", reader_only(feed), methods=["GET"]),
    Route("/ui/activity/export", reader_only(export), methods=["GET"]),
    Route("/ui/calls/{call_id}", reader_only(call_page), methods=["GET"]),
    Route("/ui/calls/{call_id}/proofs/{decision_id}", reader_only(proof), methods=["GET"]),
]
