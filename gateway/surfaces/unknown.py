"""Requests the gateway has no route for (404, 405): answered in the caller's protocol's error shape, with
the ids every answer carries, and audited like any other refusal (an agent probing paths leaves a trace)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.audit.events import AuditEvent
from gateway.model import new_id
from gateway.surfaces.common import headers

ERROR_TYPES = {404: "not_found_error", 405: "invalid_request_error"}


async def unknown_path(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    path = request.url.path[:200]  # agent-controlled: bounded before it reaches the log
    message = f"no endpoint {request.method} {path}" if status == 404 else f"{request.method} not allowed on {path}"
    anthropic = path.startswith("/v1/messages") or "anthropic-version" in request.headers
    request_id = (request.headers.get("x-request-id") or new_id())[:64]
    event = AuditEvent(
        decision_id=new_id(),
        call_id=new_id(),
        request_id=request_id,
        surface="anthropic" if anthropic else "openai",
        kind="model",
        target=None,
        reasons=[message],
        error_code="not_found" if status == 404 else "method_not_allowed",
    )
    services = getattr(request.app.state, "services", None)
    if services is not None:
        await services.audit.write([event.row()])
    if anthropic:
        body: dict[str, object] = {
            "type": "error",
            "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message},
        }
    else:
        body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": event.error_code}}
    return JSONResponse(body, status, headers=headers(request_id, event.decision_id))
