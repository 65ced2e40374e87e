"""Requests the gateway has no route for (404, 405): answered in the caller's protocol's error shape, with
the ids every answer carries, and audited like any other refusal (an agent probing paths leaves a trace)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from gateway import rendering
from gateway.audit.events import AuditEvent
from gateway.errors import GatewayError, MethodNotAllowed, NotFound
from gateway.model import new_id


async def unknown_path(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    path = request.url.path[:200]  # agent-controlled: bounded before it reaches the log
    error: GatewayError
    if status == 404:
        error = NotFound(f"no endpoint {request.method} {path}")
    elif status == 405:
        error = MethodNotAllowed(f"{request.method} not allowed on {path}")
    else:
        return await rendering.unexpected(request, exc)
    protocol = rendering.protocol_of(request)
    request_id = rendering.request_id_of(request)
    event = AuditEvent(
        decision_id=new_id(),
        call_id=new_id(),
        request_id=request_id,
        surface=protocol,
        kind="model",
        target=None,
        reasons=[error.message],
        error_code=error.code,
    )
    pipeline = getattr(request.app.state, "pipeline", None)
    if pipeline is not None:
        await pipeline.services.audit.write([event.row()])
    return rendering.response(protocol, error, request_id, event.decision_id, status=error.status)
