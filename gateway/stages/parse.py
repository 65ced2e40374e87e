"""Stage 2: the raw body -> a typed `Call`, through the surface's own parser. It runs after authentication,
so a caller without a valid key learns nothing about what the gateway accepts. The body goes no further.

What an agent names (model, tools, end user) reaches the policy input and the audit table's columns, so it
is bounded here, for every surface at once: at most 200 characters, no control character, no lone
surrogate (`gateway.model.identifier_problem`). A refusal is an audited 400; the refused value is never
recorded (the record keeps the principal as authenticated and no target)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from connectors.errors import WireFormatError
from gateway.audit.journal import Journal
from gateway.errors import InvalidRequest
from gateway.flight import Flight
from gateway.model import MAX_END_USER, MAX_NAME, Call, EmbeddingsPayload, ModelPayload, Payload, identifier_problem
from gateway.services import Services


async def parse(flight: Flight, services: Services, journal: Journal) -> Flight:
    inbound, principal = flight.need_inbound(), flight.principal
    if principal is None:
        raise RuntimeError("stage order: parse runs after authenticate")
    if flight.origin.invalid is not None:
        raise InvalidRequest(*flight.origin.invalid)
    try:
        payload = inbound.parse(inbound.body)
    except WireFormatError as exc:
        raise InvalidRequest(str(exc), exc.param) from exc
    check_names(payload)
    user = payload.request.user if isinstance(payload, ModelPayload | EmbeddingsPayload) else None
    if principal.end_user is None and user:  # X-End-User wins over the body's `user`
        principal = principal.model_copy(update={"end_user": user})
    call = Call(
        surface=flight.origin.surface, principal=principal, request_id=flight.origin.request_id, payload=payload
    )
    return replace(flight, principal=principal, call=call, inbound=None)


def check_names(payload: Payload) -> None:
    """Refuse (400) a payload naming a model, tool or user the policy and the audit table cannot take."""
    for param, value, limit in named(payload):
        problem = identifier_problem(value, limit)
        if problem is not None:
            raise InvalidRequest(f"{param} {problem}", param)


_TARGET_PARAM = {
    "model": "model",
    "embeddings": "model",
    "tool": "name",
    "agent": "agent",
    "read": "id",
    "list": "scope",
}


def named(payload: Payload) -> Iterator[tuple[str, str, int]]:
    """(param, value, limit) of every name in the payload."""
    yield _TARGET_PARAM[payload.kind], payload.target, MAX_NAME
    if isinstance(payload, EmbeddingsPayload) and payload.request.user is not None:
        yield "user", payload.request.user, MAX_END_USER
    if not isinstance(payload, ModelPayload):
        return
    request = payload.request
    if request.user is not None:
        yield "user", request.user, MAX_END_USER
    for i, tool in enumerate(request.tools):
        yield f"tools[{i}].name", tool.name, MAX_NAME
    for i, message in enumerate(request.messages):
        for j, call in enumerate(message.tool_calls):
            yield f"messages[{i}].tool_calls[{j}].name", call.name, MAX_NAME
    if request.tool_choice is not None:
        yield "tool_choice", request.tool_choice, MAX_NAME
