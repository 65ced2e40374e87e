"""Plain HTTP agents (`protocol: http`) at `/a2a/{agent}`: a POSTed JSON body (say `{"input": ...}`) goes
through the pipeline as one `kind: agent` call (operation `http`; its text the body as JSON) and is forwarded
as it is, after redaction; the agent's JSON answer comes back after the response stages. Errors have the
OpenAI error shape (`{"error": {"message", "type", "code", ...}}`); a held call with `Prefer: respond-async`
answers 202 with the approval, as on `/v1/chat/completions`."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.a2a.forward import HTTP_OPERATION
from gateway.errors import ApprovalPending, GatewayError, InvalidRequest
from gateway.model import AgentPayload
from gateway.pipeline import Pipeline
from gateway.surfaces.common import accepted, ensure_json, error_response, headers, inbound
from gateway.surfaces.openai import WIRE


def parser(agent: str) -> Any:
    def parse(body: Any) -> AgentPayload:
        body = ensure_json(body)
        if not isinstance(body, dict):
            raise InvalidRequest("the body must be a JSON object")
        return AgentPayload(agent=agent, operation=HTTP_OPERATION, text=json.dumps(body, ensure_ascii=False))

    return parse


async def answer(request: Request, pipeline: Pipeline, agent: str, body: Any) -> Response:
    """Run one call to a plain HTTP agent; the agent's JSON answer, or an OpenAI-shaped error."""
    call_in = inbound(request, "a2a", body, parser(agent))
    request_id = call_in.origin.request_id
    try:
        outcome = await pipeline.run(call_in)
    except ApprovalPending as pending:
        return accepted(pending, request_id)
    except GatewayError as exc:
        return error_response(WIRE, exc, request_id)
    try:
        reply = json.loads(getattr(outcome.reply, "content", None) or "null")
    except ValueError:  # a redaction that broke the JSON text: withhold rather than guess
        return error_response(
            WIRE, GatewayError("the agent's answer could not be passed on after redaction"), request_id
        )
    return JSONResponse(reply, headers=headers(request_id, outcome.decision_id))
