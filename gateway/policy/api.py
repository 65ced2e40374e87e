"""`GET /admin/api/decisions/{id}/why`: `gateway policy why` for audit readers (`audit.readers`): the decision's
kept input evaluated again by the version that made it, and the rules that fired, with their locations and
values. Errors are the admin APIs' (`gateway.rendering`): 401, 403 not an audit reader, 404 no such decision (or
none whose input was kept, or whose version is gone), 503 when the store cannot be read.

    curl -H "Authorization: Bearer $TOKEN" https://gateway.example.com/admin/api/decisions/$DECISION/why
"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.audit.api import error, for_readers
from gateway.errors import ConfigError
from gateway.policy.explain import decision_event
from gateway.services import Services


async def why(request: Request, services: Services) -> Response:
    decision_id = request.path_params["decision_id"][:64]
    try:
        async with services.db.deadline():
            found = await decision_event(services.db, services.settings, decision_id)
    except ConfigError as exc:
        return error(404, "not_found", exc.message)
    except (SQLAlchemyError, OSError) as exc:
        return error(
            503, "store_unavailable", f"the audit log cannot be read now: {type(exc).__name__}", {"Retry-After": "2"}
        )
    return JSONResponse(found, headers={"Cache-Control": "no-store"})


routes: list[BaseRoute] = [Route("/admin/api/decisions/{decision_id}/why", for_readers(why), methods=["GET"])]
