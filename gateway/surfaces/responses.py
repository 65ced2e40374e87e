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
from collections.abc import AsyncIterator
from typing import Any

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors import responses_native, responses_render, responses_wire
from connectors.base import ChatResponse
from connectors.errors import WireFormatError
from connectors.responses_edit import edit_response
from connectors.responses_relay import NativeRelay
from gateway.approvals.cipher import PayloadCipher
from gateway.errors import GatewayError, InvalidRequest, RouteNotFound
from gateway.model import ModelPayload, Parser, Principal
from gateway.pipeline import Pipeline
from gateway.reply import KEEPALIVE, Event, KeepAlive, Reply
from gateway.responses.store import Kept, ResponseStore
from gateway.stages.authenticate import identify
from gateway.surfaces.common import bearer_key, ensure_json, error_response, handle, headers, origin, read_json
from gateway.surfaces.openai import WIRE as OPENAI_WIRE


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
    """The app's response store, built on first use (it needs the approvals key, to seal what it keeps)."""
    state = request.app.state
    if getattr(state, "responses_store", None) is None:
        services = request.app.state.pipeline.services
        cipher = PayloadCipher.from_settings(services.settings)
        state.responses_store = ResponseStore(services.db, cipher, services.settings.responses.retention_s)
    store: ResponseStore = state.responses_store
    return store


class ResponsesFormat:
    name = "openai"

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

    def error_payload(self, exc: GatewayError) -> dict[str, Any]:
        return OPENAI_WIRE.error_payload(exc)

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
    key = bearer_key(request)
    pipeline: Pipeline = request.app.state.pipeline
    try:
        return await identify(SecretStr(key) if key else None, origin(request, "openai"), pipeline.services.keys)
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


async def _kept(request: Request) -> tuple[str, Kept]:
    """The kept response named in the path and its agent, if it is the caller's; an error to render otherwise."""
    pipeline: Pipeline = request.app.state.pipeline
    key = bearer_key(request)
    principal = await identify(SecretStr(key) if key else None, origin(request, "openai"), pipeline.services.keys)
    response_id = request.path_params["response_id"]
    kept = await _store(request).get(principal.agent, response_id)
    if kept is None:
        raise _NotFound(f"no response with id '{response_id}' (unknown, expired, deleted, or another agent's)")
    return principal.agent, kept


class _NotFound(RouteNotFound):
    code = "response_not_found"


async def _answer(request: Request, build: Any) -> Response:
    """Run `build`; a GET of a kept response answers with the decision id of the call that made it."""
    request_id = origin(request, "openai").request_id
    try:
        body, status, *decided = await build(request)
    except GatewayError as exc:
        return error_response(OPENAI_WIRE, exc, request_id)
    return JSONResponse(body, status_code=status, headers=headers(request_id, decided[0] if decided else None))


async def _retrieve(request: Request) -> tuple[dict[str, Any], int, str | None]:
    kept = (await _kept(request))[1]
    return kept.response, 200, kept.decision_id


async def _input_items(request: Request) -> tuple[dict[str, Any], int, str | None]:
    kept = (await _kept(request))[1]
    items = list(kept.input_items)
    if request.query_params.get("order", "desc") == "desc":
        items.reverse()
    limit = int(request.query_params.get("limit") or 20)
    after = request.query_params.get("after")
    if after:
        ids = [item.get("id") for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    page = items[: max(1, min(limit, 100))]
    first, last = (page[0]["id"], page[-1]["id"]) if page else (None, None)
    listing = {"object": "list", "data": page, "first_id": first, "last_id": last, "has_more": len(items) > len(page)}
    return listing, 200, kept.decision_id


async def _delete(request: Request) -> tuple[dict[str, Any], int]:
    agent, kept = await _kept(request)
    await _store(request).delete(agent, kept.response["id"])
    return {"id": kept.response["id"], "object": "response.deleted", "deleted": True}, 200


async def _cancel(request: Request) -> tuple[dict[str, Any], int]:
    await _kept(request)
    raise InvalidRequest("only background responses can be cancelled; this gateway answers every response at once")


async def retrieve(request: Request) -> Response:
    return await _answer(request, _retrieve)


async def list_input_items(request: Request) -> Response:
    return await _answer(request, _input_items)


async def delete_response(request: Request) -> Response:
    return await _answer(request, _delete)


async def cancel(request: Request) -> Response:
    return await _answer(request, _cancel)


routes = [
    Route("/v1/responses", create, methods=["POST"]),
    Route("/v1/responses/{response_id}", retrieve, methods=["GET"]),
    Route("/v1/responses/{response_id}", delete_response, methods=["DELETE"]),
    Route("/v1/responses/{response_id}/input_items", list_input_items, methods=["GET"]),
    Route("/v1/responses/{response_id}/cancel", cancel, methods=["POST"]),
]
