"""`GET /admin/api/audit/export`: the audit log for compliance tools, streamed in bounded memory.

The same filters as `gateway audit export` (`format=jsonl|csv`, `since`, `until`, `agent`, `team`, `event`,
`decision=allow|deny`), and the activity console's (`target`, `outcome`, `pii`, `tool`, `reason`, `decision_id`,
`request_id`, `call_id`, `session`: `gateway.audit.search`), so a search in the console exports as it reads. Reading
the log is a right of its own: a reviewer's token (`Authorization: Bearer rvt_...`, `gateway reviewers token NAME`)
of a group listed in `audit.readers`. Each export is itself an audit event (who, which filters, how many events);
bad tokens are limited as sign-ins are. Errors are the admin APIs' (`gateway.rendering`): 400 bad filter, 401 no or
unknown token, 403 an agent key or a reviewer who is not an audit reader, 429 too many bad tokens, 503 with
Retry-After when the store cannot be read.

    curl -H "Authorization: Bearer $TOKEN" "https://gateway.example.com/admin/api/audit/export?since=2026-01-01"
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

from sqlalchemy import ColumnElement, and_
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from gateway import rendering
from gateway.approvals.queue import refusal
from gateway.approvals.records import Reviewer
from gateway.approvals.session import token_reviewer
from gateway.audit.events import AuditEvent
from gateway.audit.export import FORMATS, MEDIA_TYPES, chunks
from gateway.audit.records import Filters
from gateway.audit.search import OUTCOMES, Search
from gateway.errors import AccessDenied, StoreUnavailable
from gateway.model import new_id
from gateway.services import Services

NARROWING = ("target", "outcome", "pii", "tool", "reason", "decision_id", "request_id", "call_id", "session")
QUERY = ("format", "since", "until", "agent", "team", "event", "decision", *NARROWING)


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The admin API's error shape (`gateway.rendering`), not cached."""
    body = rendering.admin_body(AccessDenied(status, code, message))
    return JSONResponse(body, status, headers={"Cache-Control": "no-store", **(headers or {})})


class BadFilter(ValueError):
    pass


def _time(request: Request, name: str) -> datetime | None:
    value = request.query_params.get(name)
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError as exc:
        raise BadFilter(f"{name}: {value!r} is not an ISO 8601 time") from exc


def filters_of(request: Request) -> Filters:
    q = request.query_params
    decision = q.get("decision")
    if decision not in (None, "allow", "deny"):
        raise BadFilter("decision must be allow or deny")
    allow = None if decision is None else decision == "allow"
    return Filters(
        _time(request, "since"), _time(request, "until"), q.get("agent"), q.get("team"), q.get("event"), allow
    )


def narrowing_of(request: Request) -> ColumnElement[bool] | None:
    """The console's filters beyond `Filters` (`gateway.audit.search`), as one condition, or None."""
    q = request.query_params
    if q.get("outcome") and q["outcome"] not in OUTCOMES:
        raise BadFilter(f"outcome must be one of {', '.join(OUTCOMES)}")
    asked = {name: q.get(name, "").strip() for name in NARROWING}
    conditions = Search(
        target=asked["target"],
        outcome=asked["outcome"],
        pii=asked["pii"],
        tool=asked["tool"],
        reason=asked["reason"],
        decision_id=asked["decision_id"],
        request_id=asked["request_id"],
        call_id=asked["call_id"],
        session=asked["session"],
    ).conditions()
    return and_(*conditions) if conditions else None


async def reader(request: Request, services: Services) -> Reviewer:
    """The reviewer behind the token, if their groups include one of `audit.readers` (else refused, audited)."""
    if services.reviewers is None:
        raise AccessDenied(404, "not_found", "this gateway has no reviewers")
    reviewer = await token_reviewer(request, services, services.reviewers)
    if not set(reviewer.groups) & set(services.settings.audit.readers):
        problem = f"reviewer {reviewer.name} is not an audit reader (audit.readers)"
        await services.audit.write([refusal(reviewer.name, problem).row()])
        raise AccessDenied(403, "forbidden", f"{problem}: reading the audit log is a right of its own")
    return reviewer


def for_readers(
    handler: Callable[[Request, Services], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """An admin endpoint for audit readers only (`reader`): others get the admin APIs' 401/403/429."""

    async def endpoint(request: Request) -> Response:
        services: Services = request.app.state.pipeline.services
        try:
            await reader(request, services)
        except AccessDenied as exc:
            return error(exc.status, exc.code, exc.message, exc.headers)
        return await handler(request, services)

    return endpoint


def _exported(reviewer: Reviewer, asked: dict[str, str], count: int, complete: bool) -> AuditEvent:
    filters = ", ".join(f"{k}={v[:100]}" for k, v in sorted(asked.items())) or "none"
    return AuditEvent(
        decision_id=new_id(),
        call_id=new_id(),
        request_id=new_id(),
        surface="admin",
        kind="read",
        target="audit.export",
        allow=True,
        actor=reviewer.name,
        reasons=[f"audit log exported: {count} events" + ("" if complete else " (the reader left before the end)")],
        detail=f"filters: {filters}",
    )


async def export(request: Request) -> Response:
    services: Services = request.app.state.pipeline.services
    try:
        reviewer = await reader(request, services)
    except AccessDenied as exc:
        return error(exc.status, exc.code, exc.message, exc.headers)
    return await stream_export(request, services, reviewer)


async def stream_export(request: Request, services: Services, reviewer: Reviewer) -> Response:
    """The export the request's query asks for, streamed, and audited once it ends (the admin API and the
    activity console's "export these" both come here)."""
    fmt = request.query_params.get("format", "jsonl")
    if fmt not in FORMATS:
        return error(400, "invalid_request", "format must be jsonl or csv")
    try:
        filters, where = filters_of(request), narrowing_of(request)
    except BadFilter as exc:
        return error(400, "invalid_request", str(exc))
    asked = {k: v for k, v in request.query_params.items() if k in QUERY and v}
    stream = chunks(services.audit, filters, fmt, where=where)
    try:  # the first piece before the status line: a store that cannot be read is a 503, not a broken 200
        first = await anext(stream, None)
    except (SQLAlchemyError, OSError, StoreUnavailable) as exc:
        await stream.aclose()
        return error(
            503, "store_unavailable", f"the audit log cannot be read now: {type(exc).__name__}", {"Retry-After": "2"}
        )

    async def body() -> AsyncIterator[str]:
        count, complete = 0, False
        try:
            if first is not None:
                yield first[0]
                count = first[1]
                async for chunk, written in stream:
                    yield chunk
                    count += written
            complete = True
        finally:
            await stream.aclose()
            await services.audit.write([_exported(reviewer, asked, count, complete).row()])

    extension = "jsonl" if fmt == "jsonl" else "csv"
    headers = {"Content-Disposition": f'attachment; filename="audit.{extension}"', "Cache-Control": "no-store"}
    return StreamingResponse(body(), media_type=MEDIA_TYPES[fmt], headers=headers)


routes: list[BaseRoute] = [Route("/admin/api/audit/export", export, methods=["GET"])]
