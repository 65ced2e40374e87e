"""Stage 7: send the call to the route's targets in order, with bounded retries, backoff and timeouts.

`forward` is the pivot of the pipeline: it sends what the request stages let through and returns what came
back, whole or as a stream of events, with the target that answered. How it sends depends on the kind.

Connection errors, timeouts, 429 and 5xx move on (retry, then the next target); any other 4xx is the
provider refusing the request itself and goes straight back to the agent. A stream falls back only
until its first event has arrived; after that a failure ends the stream with an error.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

from connectors.anthropic import AnthropicConnector
from connectors.base import (
    ChatRequest,
    ChatResponse,
    EmbeddingConnector,
    EmbeddingRequest,
    EmbeddingResponse,
    StreamEvent,
    Usage,
)
from connectors.errors import UpstreamError, UpstreamTimeout
from connectors.openai_responses import ResponsesConnector
from gateway.audit.journal import Journal
from gateway.errors import GatewayError, InvalidRequest, from_connector
from gateway.flight import Flight
from gateway.model import Attempt, EmbeddingsPayload, ModelPayload
from gateway.reply import Reply
from gateway.services import Services, UpstreamKind
from gateway.settings import RouteConfig, RouteTarget
from gateway.stages.route import model_route

T = TypeVar("T")
Upstream = Reply | AsyncIterator[StreamEvent]


async def _attempts(
    route: RouteConfig, services: Services, journal: Journal, send: Callable[[RouteTarget], Awaitable[T]]
) -> tuple[T, RouteTarget]:
    last: UpstreamError | None = None
    for target in route.targets():
        backoff = route.backoff_s
        for attempt in range(route.retries + 1):
            if attempt:
                await asyncio.sleep(backoff)
                backoff *= 2
            try:
                result = await send(target)
            except UpstreamError as exc:
                journal.attempt(
                    Attempt(provider=target.provider, model=target.model, status=exc.status or None, error=exc.message)
                )
                services.metrics.upstream.labels(target.provider, type(exc).__name__).inc()
                if not exc.retryable:
                    raise from_connector(exc) from exc
                last = exc
                continue
            journal.attempt(Attempt(provider=target.provider, model=target.model, status=200))
            services.metrics.upstream.labels(target.provider, "ok").inc()
            journal.served(target.provider, target.model, 200)
            return result, target
    if last is None:
        raise GatewayError("internal check failed: last is not None")
    journal.upstream_failed(last.status or None)
    raise from_connector(last) from last


async def forward(flight: Flight, services: Services, journal: Journal) -> tuple[Flight, Upstream]:
    """Send the call through its kind's connector; returns the flight with the target that answered, and the
    answer (or its stream)."""
    if flight.replay is not None:  # a held answer, approved: delivered as it was, the model is not asked again
        return flight, ChatResponse.model_validate(flight.replay)
    call = flight.need_call()
    kind = services.kinds.get(call.kind)
    if kind is None:
        raise InvalidRequest(f"this gateway cannot forward {call.kind} calls")
    return await kind.forward(flight, services, journal)


async def forward_model(flight: Flight, services: Services, journal: Journal) -> tuple[Flight, Upstream]:
    """A model or embeddings call: to the route's targets in turn (fallbacks, retries), through the providers'
    connectors."""
    call, route = flight.need_call(), flight.need_route().config
    payload = call.payload
    upstream: tuple[Upstream, RouteTarget]
    if isinstance(payload, ModelPayload) and payload.api == "count_tokens":
        upstream = await forward_count(payload.request, route, services, journal)
    elif isinstance(payload, ModelPayload) and payload.request.stream:
        upstream = await forward_stream(payload.request, route, services, journal, payload.api == "responses")
    elif isinstance(payload, ModelPayload):
        upstream = await forward_chat(payload.request, route, services, journal, payload.api == "responses")
    elif isinstance(payload, EmbeddingsPayload):
        upstream = await forward_embeddings(payload.request, route, services, journal)
    else:
        raise InvalidRequest(f"this gateway cannot forward {call.kind} calls")
    answer, target = upstream
    return replace(flight, served=target), answer


def native(services: Services, target: RouteTarget, responses: bool) -> ResponsesConnector | None:
    """The target's connector, if this is a Responses call and the target takes it as it is (`responses:
    native`); None: the call is translated for the target (to Chat Completions or Messages)."""
    provider = services.settings.providers[target.provider]
    connector = services.connector(target)
    if responses and provider.responses == "native" and isinstance(connector, ResponsesConnector):
        return connector
    return None


async def forward_chat(
    request: ChatRequest, route: RouteConfig, services: Services, journal: Journal, responses: bool = False
) -> tuple[ChatResponse, RouteTarget]:
    async def send(target: RouteTarget) -> ChatResponse:
        speaks = native(services, target, responses)
        if speaks is not None:
            return await speaks.respond(request, timeout=route.timeout_s)
        return await services.connector(target).complete(request, timeout=route.timeout_s)

    return await _attempts(route, services, journal, send)


TOKEN_COUNT = "token_count"  # the extras key of a count's answer: "provider" or "estimated"


async def forward_count(
    request: ChatRequest, route: RouteConfig, services: Services, journal: Journal
) -> tuple[ChatResponse, RouteTarget]:
    """Count the request's input tokens: asked of an Anthropic provider, estimated (about four characters a
    token) for the others. The answer is a reply with no content whose usage holds the count."""

    async def send(target: RouteTarget) -> ChatResponse:
        connector = services.connector(target)
        if isinstance(connector, AnthropicConnector):
            tokens, source = await connector.count_tokens(request, timeout=route.timeout_s), "provider"
        else:
            text = sum(len(m.text()) for m in request.messages) + sum(
                len(json.dumps(t.parameters)) for t in request.tools
            )
            tokens, source = max(1, text // 4), "estimated"
        return ChatResponse(
            id="", model=target.model, usage=Usage(input_tokens=tokens), extras={"gateway": {TOKEN_COUNT: source}}
        )

    return await _attempts(route, services, journal, send)


async def _rest(first: StreamEvent, stream: AsyncGenerator[StreamEvent, None]) -> AsyncIterator[StreamEvent]:
    yield first
    try:
        async for event in stream:
            yield event
    except UpstreamError as exc:
        raise from_connector(exc) from exc
    finally:
        await stream.aclose()  # releases the upstream connection even when the agent left early


async def forward_stream(
    request: ChatRequest, route: RouteConfig, services: Services, journal: Journal, responses: bool = False
) -> tuple[AsyncIterator[StreamEvent], RouteTarget]:
    """Opens the stream on the first target that produces an event; returns the whole event stream."""

    async def send(target: RouteTarget) -> AsyncIterator[StreamEvent]:
        speaks = native(services, target, responses)
        if speaks is not None:
            stream = speaks.respond_stream(request, timeout=route.timeout_s)
        else:
            stream = services.connector(target).stream(request, timeout=route.timeout_s)
        try:
            first = await asyncio.wait_for(anext(stream), timeout=route.timeout_s)
        except StopAsyncIteration as exc:
            raise UpstreamError(f"{target.provider} sent an empty stream", status=502) from exc
        except BaseException as exc:
            await stream.aclose()
            if isinstance(exc, TimeoutError):
                raise UpstreamTimeout(f"no stream event from {target.provider} within {route.timeout_s:g} s") from exc
            raise
        return _rest(first, stream)

    return await _attempts(route, services, journal, send)


async def forward_embeddings(
    request: EmbeddingRequest, route: RouteConfig, services: Services, journal: Journal
) -> tuple[EmbeddingResponse, RouteTarget]:
    async def send(target: RouteTarget) -> EmbeddingResponse:
        connector = services.connector(target)
        if not isinstance(connector, EmbeddingConnector):
            kind = services.settings.providers[target.provider].kind
            raise InvalidRequest(f"provider '{target.provider}' ({kind}) offers no embeddings")
        return await connector.embed(request, timeout=route.timeout_s)

    return await _attempts(route, services, journal, send)


MODELS = UpstreamKind(route=model_route, forward=forward_model)  # model and embeddings calls: `routes:`
