"""Plain HTTP agents (`protocol: http`) at `/a2a/{agent}`: a POSTed JSON body (say `{"input": ...}`) goes
through the pipeline as one `kind: agent` call (operation `http`; its text the body as JSON) and is forwarded
as it is, after redaction; the agent's JSON answer comes back after the response stages. Errors have the
OpenAI error shape (`gateway.rendering`); a held call with `Prefer: respond-async`
answers 202 with the approval, as on `/v1/chat/completions`."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway import rendering
from gateway.a2a.forward import HTTP_OPERATION
from gateway.adapter import enter, inbound, origin, parsed_json
from gateway.errors import GatewayError, InvalidRequest
from gateway.model import AgentPayload
from gateway.pipeline import Pipeline, Result
from gateway.surfaces.common import accepted, ensure_json


def parser(agent: str) -> Any:
    def parse(body: Any) -> AgentPayload:
        body = ensure_json(body)
        if not isinstance(body, dict):
            raise InvalidRequest("the body must be a JSON object")
        return AgentPayload(agent=agent, operation=HTTP_OPERATION, text=json.dumps(body, ensure_ascii=False))

    return parse


async def answer(request: Request, pipeline: Pipeline, agent: str, body: Any) -> Response:
    """Run one call to a plain HTTP agent; the agent's JSON answer, or an OpenAI-shaped error."""
    came = origin(request, "a2a")

    async def relay(outcome: Result, out: dict[str, str]) -> Response:
        reply = parsed_json(getattr(outcome.reply, "content", None), "the agent's answer")
        return JSONResponse(reply, headers=out)

    def fail(exc: GatewayError, out: dict[str, str]) -> Response:
        return rendering.response("openai", exc, came.request_id, exc.decision_id)

    return await enter(pipeline, inbound(request, came, body, parser(agent)), relay, fail, accepted)
