"""`GET /v1/approvals/{id}`: an agent asks where its held call stands (the status URL of a 202).

Only the agent the call was held for can see it (another agent gets 404, as if it did not exist); the answer
says the status, the reason it was held and, once decided, the reviewer's comment, never the payload.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.adapter import origin, presented_key
from gateway.errors import ApprovalNotFound, GatewayError
from gateway.pipeline import Pipeline
from gateway.rendering import ids as headers
from gateway.stages.authenticate import identify
from gateway.surfaces.anthropic import WIRE as ANTHROPIC_WIRE
from gateway.surfaces.common import error_response
from gateway.surfaces.openai import WIRE as OPENAI_WIRE


async def approval_status(request: Request) -> Response:
    pipeline: Pipeline = request.app.state.pipeline
    services = pipeline.services
    anthropic = "anthropic-version" in request.headers
    where = origin(request, "anthropic" if anthropic else "openai")
    try:
        principal = await identify(presented_key(request), where, services.keys)
        queue = services.approvals
        approval = await queue.get(request.path_params["approval_id"][:64]) if queue else None
        if queue is None or approval is None or approval.agent != principal.agent:
            raise ApprovalNotFound("no such approval for this agent")
        approval = await queue.settle(approval)
    except GatewayError as exc:
        return error_response(ANTHROPIC_WIRE if anthropic else OPENAI_WIRE, exc, where.request_id)
    base = (services.settings.approvals.public_url or "").rstrip("/")
    return JSONResponse(approval.summary(base), headers=headers(where.request_id, approval.decision_id))


routes = [Route("/v1/approvals/{approval_id}", approval_status, methods=["GET"])]
