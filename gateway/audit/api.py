"""`GET /admin/api/audit/export`: the audit log for compliance tools, streamed in bounded memory.

The same filters as `gateway audit export` (`format=jsonl|csv`, `since`, `until`, `agent`, `team`, `event`,
`decision=allow|deny`). Reviewers authenticate with `Authorization: Bearer rvt_...` (`gateway reviewers
token NAME`); errors are `{"error": {"code", "message"}}`: 400 bad filter, 401 no or unknown token, 403 an
agent key.

    curl -H "Authorization: Bearer $TOKEN" "https://gateway.example.com/admin/api/audit/export?since=2026-01-01"
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from gateway.audit.export import FORMATS, MEDIA_TYPES, chunks
from gateway.audit.records import Filters
from gateway.services import Services


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers={"Cache-Control": "no-store"})


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


async def _refusal(request: Request, services: Services) -> JSONResponse | None:
    """None for a reviewer's token; else the 401 or 403 to answer."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return error(401, "unauthenticated", "send Authorization: Bearer rvt_... (gateway reviewers token NAME)")
    if services.reviewers is not None and await services.reviewers.by_token(token) is not None:
        return None
    if await services.keys.lookup(token) is not None:
        return error(403, "forbidden", "an agent key cannot read the audit log; use a reviewer token")
    return error(401, "invalid_token", "unknown or revoked reviewer token")


async def export(request: Request) -> Response:
    services: Services = request.app.state.services
    refusal = await _refusal(request, services)
    if refusal is not None:
        return refusal
    fmt = request.query_params.get("format", "jsonl")
    if fmt not in FORMATS:
        return error(400, "invalid_request", "format must be jsonl or csv")
    try:
        filters = filters_of(request)
    except BadFilter as exc:
        return error(400, "invalid_request", str(exc))

    async def body() -> AsyncIterator[str]:
        async for chunk, _ in chunks(services.audit, filters, fmt):
            yield chunk

    extension = "jsonl" if fmt == "jsonl" else "csv"
    headers = {"Content-Disposition": f'attachment; filename="audit.{extension}"', "Cache-Control": "no-store"}
    return StreamingResponse(body(), media_type=MEDIA_TYPES[fmt], headers=headers)


routes: list[BaseRoute] = [Route("/admin/api/audit/export", export, methods=["GET"])]
