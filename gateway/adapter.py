"""The one door: every surface enters the pipeline through `enter`, and only through it.

A surface's own module is a parser (its wire format into a payload) and a renderer (a result into its
protocol's answer); what lies between is the same for all of them and is written here once:

- `inbound`: the call as it came (origin: request id, end user, session, approval receipt; the key);
- `enter`: runs the pipeline, then the surface's `answer`; a `GatewayError` from either is the surface's
  `fail` (its protocol's error shape, `gateway.rendering`), a held call the agent asked not to wait for is
  `pending` when the protocol has a 202 (else a `fail` too);
- `parsed_json`: a JSON answer (an MCP result, an agent's answer) read back after the response stages;
  one a redaction broke is withheld (`UnreadableAfterRedaction`), never guessed at.

    >>> parsed_json('{"a": 1}', "the answer")
    {'a': 1}
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway import rendering
from gateway.errors import ApprovalPending, GatewayError, UnreadableAfterRedaction
from gateway.model import (
    MAX_END_USER,
    MAX_SESSION,
    Inbound,
    ListPayload,
    Origin,
    Parser,
    ReadPayload,
    identifier_problem,
    request_id,
)
from gateway.pipeline import Pipeline, Result
from gateway.rendering import ids

T = TypeVar("T")


def bearer_key(request: Request) -> str | None:
    """The key an agent presents: `Authorization: Bearer <key>` (OpenAI SDKs) or `x-api-key` (Anthropic's)."""
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key") or None


def origin(request: Request, surface: str) -> Origin:
    prefer = {p.strip().lower() for p in request.headers.get("prefer", "").split(",")}
    end_user = request.headers.get("x-end-user")
    problem = identifier_problem(end_user, MAX_END_USER) if end_user is not None else None
    session = request.headers.get("x-gateway-session")  # the agent names its session (gateway.sessions)
    session_problem = identifier_problem(session, MAX_SESSION, printable=True) if session is not None else None
    invalid = (f"X-End-User {problem}", "X-End-User") if problem else None
    if session_problem and invalid is None:
        invalid = (f"X-Gateway-Session {session_problem}", "X-Gateway-Session")
    return Origin(
        surface=surface,
        request_id=request_id(request.headers.get("x-request-id")),
        end_user=None if problem else end_user,  # never stored as sent: the parse stage refuses the call
        approval_id=(request.headers.get("x-gateway-approval") or "").strip()[:64] or None,
        respond_async="respond-async" in prefer,
        invalid=invalid,
        session=("header", session) if session and not session_problem else None,
    )


def presented_key(request: Request) -> SecretStr | None:
    key = bearer_key(request)
    return SecretStr(key) if key else None


def inbound(request: Request, origin: Origin, body: Any, parser: Parser) -> Inbound:
    return Inbound(origin, presented_key(request), body, parser)


async def enter(
    pipeline: Pipeline,
    call: Inbound,
    answer: Callable[[Result, dict[str, str]], Awaitable[T]],
    fail: Callable[[GatewayError, dict[str, str]], T],
    pending: Callable[[ApprovalPending, dict[str, str]], T] | None = None,
) -> T:
    """Run one call and answer it in the surface's protocol. `answer` and `fail` get the ids every answer
    carries (request id, decision id) as headers."""
    request_id = call.origin.request_id
    try:
        result = await pipeline.run(call)
    except ApprovalPending as held:
        out = ids(request_id, held.decision_id)
        return pending(held, out) if pending is not None else fail(held, out)
    except GatewayError as exc:
        return fail(exc, ids(request_id, exc.decision_id))
    out = {**ids(request_id, result.decision_id), **result.headers}
    try:
        return await answer(result, out)
    except GatewayError as exc:
        exc.decision_id = exc.decision_id or result.decision_id
        return fail(exc, out)


def parsed_json(text: str | None, what: str) -> Any:
    """`text` (a JSON answer after the response stages) as a value; one a redaction broke is withheld."""
    try:
        return json.loads(text or "null")
    except ValueError:
        raise UnreadableAfterRedaction(what) from None


def pipeline_of(request: Request) -> Pipeline:
    """The app's pipeline, and through it its services: the one way a handler reaches them."""
    pipeline: Pipeline = request.app.state.pipeline
    return pipeline


async def serve(
    request: Request,
    protocol: Literal["openai", "anthropic", "a2a"],
    payload: ReadPayload | ListPayload,
    render: Callable[[Any], Any],
    surface: str | None = None,
) -> Response:
    """A read or a listing (`gateway.stages.served`) through the pipeline, its body rendered by `render` (the
    protocol's shape of it), or the protocol's error."""
    came = origin(request, surface or protocol)

    async def answer(result: Result, out: dict[str, str]) -> Response:
        body = parsed_json(getattr(result.reply, "content", None), "the answer")
        return JSONResponse(render(body), headers=out)

    def fail(exc: GatewayError, out: dict[str, str]) -> Response:
        return rendering.response("openai" if protocol == "a2a" else protocol, exc, came.request_id, exc.decision_id)

    return await enter(pipeline_of(request), inbound(request, came, None, lambda _: payload), answer, fail)
