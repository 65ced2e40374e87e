"""`GET /v1/approvals/{id}`: an agent asks where its held call stands (the status URL of a 202).

A read like any other (`kind: read`, operation `approvals.get`, `gateway.stages.served`): authenticated, decided,
audited. Only the agent the call was held for can see it (another agent gets 404, as if it did not exist); the
answer says the status, the reason it was held and, once decided, the reviewer's comment, never the payload.
It is in the OpenAI error shape, or Anthropic's for a caller that sends `anthropic-version`.
"""

from __future__ import annotations

from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.adapter import serve
from gateway.errors import ApprovalNotFound
from gateway.model import Call, ReadPayload
from gateway.services import Services


async def _status(call: Call, services: Services) -> Any:
    queue = services.approvals
    name = call.payload.name if isinstance(call.payload, ReadPayload) else ""
    approval = await queue.get(name) if queue else None
    if queue is None or approval is None or approval.agent != call.principal.agent:
        raise ApprovalNotFound("no such approval for this agent")
    approval = await queue.settle(approval)
    return approval.summary((services.settings.approvals.public_url or "").rstrip("/"))


READS = {"approvals.get": _status}  # what `kind: read` calls of held calls' status do


async def approval_status(request: Request) -> Response:
    protocol: Literal["openai", "anthropic"] = "anthropic" if "anthropic-version" in request.headers else "openai"
    payload = ReadPayload(operation="approvals.get", name=request.path_params["approval_id"][:64])
    return await serve(request, protocol, payload, lambda body: body)


routes = [Route("/v1/approvals/{approval_id}", approval_status, methods=["GET"])]
