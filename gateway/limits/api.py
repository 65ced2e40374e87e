"""`GET /admin/api/usage`: each limit's counters now, for the audit readers (`audit.readers`), as `gateway usage
--json` prints them. Filters: `agent`, `team`, `limit`. Errors are the admin APIs' (`gateway.rendering`): 401 no
or unknown token, 403 not an audit reader, 404 no reviewers, 503 with Retry-After when the store cannot be read.

    curl -H "Authorization: Bearer $TOKEN" "https://gateway.example.com/admin/api/usage?team=research"
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.audit.api import error, for_readers
from gateway.errors import StoreUnavailable
from gateway.limits.report import usage_rows
from gateway.services import Services


async def usage(request: Request, services: Services) -> Response:
    if services.limiter is None:
        return JSONResponse({"usage": []})
    q = request.query_params
    try:
        rows = await usage_rows(services.limiter, q.get("agent"), q.get("team"), q.get("limit"))
    except StoreUnavailable as exc:
        return error(503, exc.code, exc.message, {"Retry-After": "2"})
    return JSONResponse({"usage": rows}, headers={"Cache-Control": "no-store"})


routes: list[BaseRoute] = [Route("/admin/api/usage", for_readers(usage), methods=["GET"])]
