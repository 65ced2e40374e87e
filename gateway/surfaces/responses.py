"""The OpenAI Responses surface: `POST /v1/responses` (streaming or not), and the kept responses:
`GET /v1/responses/{id}`, `GET /v1/responses/{id}/input_items`, `DELETE /v1/responses/{id}`,
`POST /v1/responses/{id}/cancel`.

A Responses call is a model call (`kind: model`, `operation: responses`) through the same stages as any
other. Its neutral view serves policy and inspection, and any route: translated for Chat Completions or
Anthropic providers, or sent as it came to a provider that speaks Responses natively (`responses: native`),
whose answer (or stream of events) comes back as the provider wrote it, with the stages' edits put back.
The gateway keeps the conversation that `previous_response_id` continues (`gateway.responses`), for every
route: a native provider receives the whole conversation, never a `previous_response_id` (so an agent
continues only its own conversations, and a route may change kind between turns).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors import responses_native, responses_render, responses_wire
from connectors.base import ChatResponse
from connectors.errors import WireFormatError
from connectors.responses_edit import edit_response
from connectors.responses_relay import NativeRelay
from gateway.adapter import origin, pipeline_of, presented_key, serve
from gateway.errors import GatewayError, InvalidRequest, ResponseNotFound
from gateway.model import Call, ModelPayload, Parser, Principal, ReadPayload
from gateway.pipeline import Pipeline
from gateway.reply import KEEPALIVE, Event, KeepAlive, Reply
from gateway.responses.store import Kept, ResponseStore
from gateway.services import Services
from gateway.stages.authenticate import identify
from gateway.surfaces.common import ensure_json, handle, read_json


class _ResponsesParser:
    """Parses one Responses body after the earlier turns were looked up; remembers what rendering and
    keeping the answer need (the agent, the conversation, the settings the response repeats)."""

    def __init__(self, agent: str | None, previous: Kept | None, previous_id: str | None) -> None:
        self.agent = agent
        self.previous = previous
        self.previous_id = previous_id
        self.response_id = responses_wire.new_item_id("resp")
        self.items: list[dict[str, Any]] = []  # this turn's input items, with ids (what input_items lists)
        self.raw: list[dict[str, Any]] = []  # the same as the agent sent them (what the conversation keeps)
        self.settings: dict[str, Any] = {}
        self.store = True
        self.decision_id: str | None = None  # set by the surface once the pipeline decided (`handle`)

    def __call__(self, body: Any) -> ModelPayload:
        body = ensure_json(body)
        responses_wire.validate(body)  # the whole body against its schema, before anything reads it
        if self.previous_id and self.previous is None:
            raise WireFormatError(
                f"previous response '{self.previous_id}' not found (unknown, expired, deleted, or another agent's)",
                "previous_response_id",
            )
        self.items = responses_wire.input_items(body)
        self.raw = responses_wire.raw_input(body)
        history = self.previous.conversation if self.previous else []
        request = responses_wire.parse_request(body, [*history, *self.raw])
        self.settings = responses_render.echo(body, request.model)
        self.store = body.get("store") is not False
        return ModelPayload(request=request, api="responses")

    def kept(self, response: dict[str, Any]) -> Kept:
        history = self.previous.conversation if self.previous else []
        return Kept(response, self.items, [*history, *self.raw, *response["output"]], self.decision_id, self.session())

    def session(self) -> str:
        """The conversation's session (`input.session`): named by its first response (this one, on a first turn)."""
        if self.previous is not None:
            return self.previous.session or self.previous_id or self.response_id
        return self.response_id

    def overrides(self) -> dict[str, Any]:
        """What a native answer's response object says as the agent asked it (the provider saw the route's
        model, and the whole conversation instead of `previous_response_id`)."""
        return {"model": self.settings["model"], "previous_response_id": self.previous_id}


def _store(request: Request) -> ResponseStore:
    """The app's response store (built on first use: it needs the approvals key, to seal what it keeps)."""
    return pipeline_of(request).services.responses


class ResponsesFormat:
    name: Literal["openai"] = "openai"

    def __init__(self, store: ResponseStore | None = None) -> None:
        self.kept_in = store

    def parser(self) -> Parser:
        return _ResponsesParser(None, None, None)

    async def _keep(self, parser: _ResponsesParser, response: dict[str, Any]) -> None:
        if self.kept_in is not None and parser.store and parser.agent is not None:
            await self.kept_in.save(parser.agent, parser.kept(response))

    async def render(self, reply: Reply, model: str, parser: Parser) -> dict[str, Any]:
        if not (isinstance(parser, _ResponsesParser) and isinstance(reply, ChatResponse)):
            raise GatewayError(
                "internal check failed: isinstance(parser, _ResponsesParser) and isinstance(reply, ChatResponse)"
            )
        native = responses_native.answer_object(reply)
        if native is not None:  # the provider's own response, with the stages' edits
            response = edit_response(native, reply.content, reply.tool_calls, parser.overrides())
        else:
            response = responses_render.render_response(reply, parser.settings, parser.response_id)
        await self._keep(parser, response)
        return response

    async def encode(self, events: AsyncIterator[Event], model: str, parser: Parser) -> AsyncIterator[bytes]:
        if not isinstance(parser, _ResponsesParser):
            raise GatewayError("internal check failed: isinstance(parser, _ResponsesParser)")
        renderer: responses_render.ResponseRenderer | NativeRelay | None = None
        kept = False
        try:
            async for event in events:
                if isinstance(event, KeepAlive):
                    yield KEEPALIVE
                    continue
                if renderer is None:  # a native route's stream carries the provider's own events
                    renderer = _renderer(event, parser)
                rendered = renderer.render(event)
                if renderer.final is not None and not kept:  # kept before the agent sees it complete
                    kept = True
                    await self._keep(parser, renderer.final)
                for out in rendered:
                    yield _sse(out)
        except GatewayError as exc:
            sequence = renderer.sequence if renderer is not None else 0
            yield _sse(_error_event(exc, sequence))

    def stream_error(self, exc: GatewayError) -> bytes:
        event = {"type": "error", "sequence_number": 0, "code": exc.code, "message": exc.message, "param": None}
        return _sse(event)


def _renderer(first: Event, parser: _ResponsesParser) -> responses_render.ResponseRenderer | NativeRelay:
    if isinstance(first, responses_native.Upstream):
        return NativeRelay(parser.overrides())
    return responses_render.ResponseRenderer(parser.settings, parser.response_id)


def _error_event(exc: GatewayError, sequence: int) -> dict[str, Any]:
    param = getattr(exc, "param", None)
    return {"type": "error", "sequence_number": sequence, "code": exc.code, "message": exc.message, "param": param}


def _sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


async def _principal(request: Request) -> Principal | None:
    """The caller, if its key is valid (else the pipeline refuses the call, and audits it)."""
    pipeline: Pipeline = request.app.state.pipeline
    try:
        return await identify(presented_key(request), origin(request, "openai"), pipeline.services.keys)
    except GatewayError:
        return None


async def create(request: Request) -> Response:
    pipeline: Pipeline = request.app.state.pipeline
    body = await read_json(request, pipeline.services.settings.max_request_bytes)
    store = _store(request) if pipeline.services.settings.responses.store else None
    previous_id = body.get("previous_response_id") if isinstance(body, dict) else None
    principal = await _principal(request)
    previous = None
    if principal is not None and isinstance(previous_id, str) and store is not None:
        previous = await store.get(principal.agent, previous_id)
    parser = _ResponsesParser(principal.agent if principal else None, previous, previous_id)
    session = ("responses", parser.session()) if store is not None else None  # nothing kept: no conversation
    return await handle(request, ResponsesFormat(store), body, parser, session=session)


async def _kept(call: Call, services: Services) -> Kept:
    """The kept response the read names, if it is the caller's."""
    kept = await services.responses.get(call.principal.agent, call.target)
    if kept is None:
        raise ResponseNotFound(f"no response with id '{call.target}' (unknown, expired, deleted, or another agent's)")
    return kept


async def _retrieve(call: Call, services: Services) -> dict[str, Any]:
    return (await _kept(call, services)).response


def _limit(raw: str | None) -> int:
    try:
        limit = int(raw) if raw is not None else 20
    except ValueError:
        raise InvalidRequest("limit must be a whole number from 1 to 100", "limit") from None
    if not 1 <= limit <= 100:
        raise InvalidRequest("limit must be a whole number from 1 to 100", "limit")
    return limit


async def _input_items(call: Call, services: Services) -> dict[str, Any]:
    params = call.payload.params if isinstance(call.payload, ReadPayload) else {}
    order, limit, after = params.get("order", "desc"), _limit(params.get("limit")), params.get("after")
    if order not in ("asc", "desc"):
        raise InvalidRequest("order must be asc or desc", "order")
    items = list((await _kept(call, services)).input_items)
    if order == "desc":
        items.reverse()
    if after:
        ids = [item.get("id") for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    page = items[:limit]
    first, last = (page[0]["id"], page[-1]["id"]) if page else (None, None)
    return {"object": "list", "data": page, "first_id": first, "last_id": last, "has_more": len(items) > len(page)}


async def _delete(call: Call, services: Services) -> dict[str, Any]:
    kept = await _kept(call, services)
    await services.responses.delete(call.principal.agent, kept.response["id"])
    return {"id": kept.response["id"], "object": "response.deleted", "deleted": True}


async def _cancel(call: Call, services: Services) -> dict[str, Any]:
    await _kept(call, services)
    raise InvalidRequest("only background responses can be cancelled; this gateway answers every response at once")


READS = {  # what `kind: read` calls of the Responses API do (`gateway.stages.served`)
    "responses.get": _retrieve,
    "responses.input_items": _input_items,
    "responses.delete": _delete,
    "responses.cancel": _cancel,
}
QUERY = ("order", "limit", "after")


def _read(operation: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        params = {k: v[:200] for k, v in request.query_params.items() if k in QUERY}
        payload = ReadPayload(operation=operation, name=request.path_params["response_id"][:200], params=params)
        return await serve(request, "openai", payload, lambda body: body)

    return endpoint


retrieve = _read("responses.get")
list_input_items = _read("responses.input_items")
delete_response = _read("responses.delete")
cancel = _read("responses.cancel")


routes = [
    Route("/v1/responses", create, methods=["POST"]),
    Route("/v1/responses/{response_id}", retrieve, methods=["GET"]),
    Route("/v1/responses/{response_id}", delete_response, methods=["DELETE"]),
    Route("/v1/responses/{response_id}/input_items", list_input_items, methods=["GET"]),
    Route("/v1/responses/{response_id}/cancel", cancel, methods=["POST"]),
]
