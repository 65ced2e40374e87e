"""The request path, written down once. Surfaces call `complete`, `stream` or `embed`; all run the same stages:

    authenticate -> parse -> decide(request) -> route -> forward -> decide(response) -> audit (always)

A stream's text flows to the agent as it arrives; the tool calls the model asks for are held back until
the response-phase decision allows them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from connectors.base import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    StreamEnd,
    StreamEvent,
    ToolCall,
    ToolCallDelta,
)
from connectors.errors import WireFormatError
from gateway.errors import GatewayError, InvalidRequest, PolicyDenied
from gateway.model import Call, Decision, Inbound, Phase, Trace
from gateway.policy.input import build_input, request_tool_calls
from gateway.services import Services
from gateway.settings import RouteConfig
from gateway.stages.audit import audit
from gateway.stages.authenticate import authenticate
from gateway.stages.decide import decide
from gateway.stages.forward import forward, forward_embeddings, forward_stream
from gateway.stages.route import route

Parser = Callable[[Any], ChatRequest | EmbeddingRequest]
T = TypeVar("T")
R = TypeVar("R", ChatRequest, EmbeddingRequest)
Exchange = Callable[[Trace, Call, RouteConfig], Awaitable[T]]
log = logging.getLogger("gateway.pipeline")


class Pipeline:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def complete(self, inbound: Inbound, parse: Parser) -> tuple[ChatResponse, Trace]:
        async def exchange(trace: Trace, call: Call, route_config: RouteConfig) -> ChatResponse:
            started = time.perf_counter()
            response = await forward(_as(call.request, ChatRequest), route_config, self.services, trace)
            trace.timer.record("forward", started)
            self._usage(trace, response.usage.input_tokens, response.usage.output_tokens)
            await self._decide(trace, call, "response", response.tool_calls)
            return response

        return await self._run(inbound, parse, exchange)

    async def embed(self, inbound: Inbound, parse: Parser) -> tuple[EmbeddingResponse, Trace]:
        async def exchange(trace: Trace, call: Call, route_config: RouteConfig) -> EmbeddingResponse:
            started = time.perf_counter()
            request = _as(call.request, EmbeddingRequest)
            response = await forward_embeddings(request, route_config, self.services, trace)
            trace.timer.record("forward", started)
            self._usage(trace, response.usage.input_tokens, 0)
            await self._decide(trace, call, "response", [])
            return response

        return await self._run(inbound, parse, exchange)

    async def _run(self, inbound: Inbound, parse: Parser, exchange: Exchange[T]) -> tuple[T, Trace]:
        trace = Trace(inbound=inbound)
        try:
            call, route_config = await self._prepare(trace, parse)
            result = await exchange(trace, call, route_config)
            self.services.metrics.requests.labels(inbound.surface, "ok").inc()
            return result, trace
        except GatewayError as exc:
            self._failed(trace, exc)
            raise
        except Exception as exc:
            raise self._internal(trace, exc) from exc
        finally:
            await audit(trace, self.services.audit)

    async def stream(self, inbound: Inbound, parse: Parser) -> tuple[AsyncIterator[StreamEvent], Trace]:
        """Everything up to the first upstream event happens before this returns (so errors get a status)."""
        trace = Trace(inbound=inbound)
        try:
            call, route_config = await self._prepare(trace, parse)
            events = await forward_stream(_as(call.request, ChatRequest), route_config, self.services, trace)
        except GatewayError as exc:
            self._failed(trace, exc)
            await audit(trace, self.services.audit)
            raise
        except Exception as exc:
            error = self._internal(trace, exc)
            await audit(trace, self.services.audit)
            raise error from exc
        return self._relay(trace, call, events), trace

    async def _relay(self, trace: Trace, call: Call, events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
        held: list[ToolCallDelta] = []
        try:
            async for event in events:
                if isinstance(event, ToolCallDelta):
                    held.append(event)
                    continue
                if isinstance(event, StreamEnd):
                    self._usage(trace, event.usage.input_tokens, event.usage.output_tokens)
                    await self._decide(trace, call, "response", assemble(held))
                    for delta in held:
                        yield delta
                    self.services.metrics.requests.labels(trace.inbound.surface, "ok").inc()
                yield event
        except GatewayError as exc:
            self._failed(trace, exc)
            raise
        except asyncio.CancelledError:  # the agent went away: stop the upstream too, and say so in the record
            trace.error, trace.error_code = "client disconnected before the stream ended", "client_disconnected"
            raise
        except Exception as exc:
            raise self._internal(trace, exc) from exc
        finally:
            await _close(events)
            await audit(trace, self.services.audit)

    async def allowed_routes(self, inbound: Inbound) -> list[tuple[str, RouteConfig]]:
        """The routes the policy lets this agent call (asked per route; a listing, so not audited)."""
        principal = await authenticate(inbound, self.services.keys)
        allowed = []
        for alias, route_config in self.services.settings.routes.items():
            probe = Call(
                surface=inbound.surface,
                target=alias,
                principal=principal,
                request_id=inbound.request_id,
                request=ChatRequest(model=alias, messages=[]),
            )
            input_doc = build_input(probe, "request", list(self.services.settings.routes), [])
            if (
                await decide(self.services.policy, input_doc, self.services.settings.policy, self.services.metrics)
            ).allow:
                allowed.append((alias, route_config))
        return allowed

    async def _prepare(self, trace: Trace, parse: Parser) -> tuple[Call, RouteConfig]:
        started = time.perf_counter()
        trace.principal = await authenticate(trace.inbound, self.services.keys)
        trace.timer.record("authenticate", started)
        try:
            request = parse(trace.inbound.body)
        except WireFormatError as exc:
            raise InvalidRequest(str(exc), exc.param) from exc
        user = getattr(request, "user", None)
        if trace.principal.end_user is None and user:  # X-End-User wins over the body's `user`
            trace.principal = trace.principal.model_copy(update={"end_user": user})
        trace.call = call = Call(
            surface=trace.inbound.surface,
            target=request.model,
            principal=trace.principal,
            request=request,
            request_id=trace.inbound.request_id,
            stream=getattr(request, "stream", False),
        )
        decision = await self._decide(trace, call, "request", request_tool_calls(call))
        alias, route_config = route(call, decision, self.services.settings.routes)
        if alias != call.target:
            call.request = call.request.model_copy(update={"model": alias})
        return call, route_config

    async def _decide(self, trace: Trace, call: Call, phase: Phase, tool_calls: list[ToolCall]) -> Decision:
        upstream = (
            {"provider": trace.provider or "", "model": trace.upstream_model or ""} if phase == "response" else None
        )
        if phase == "response":
            trace.tool_calls = tool_calls
        input_doc = build_input(call, phase, list(self.services.settings.routes), tool_calls, upstream)
        decision = await decide(self.services.policy, input_doc, self.services.settings.policy, self.services.metrics)
        trace.decisions.append(decision)
        if not decision.allow:
            raise PolicyDenied(decision.reasons, decision.decision_id)
        return decision

    def _usage(self, trace: Trace, input_tokens: int, output_tokens: int) -> None:
        trace.input_tokens, trace.output_tokens = input_tokens, output_tokens

    def _internal(self, trace: Trace, exc: Exception) -> GatewayError:
        """A bug, not a verdict: logged with its traceback, audited and answered as `internal_error`."""
        log.exception("internal error on request %s", trace.inbound.request_id)
        error = GatewayError(f"internal error (request id {trace.inbound.request_id}); see the gateway log")
        self._failed(trace, error)
        return error

    def _failed(self, trace: Trace, exc: GatewayError) -> None:
        trace.error, trace.error_code = exc.message, exc.code
        self.services.metrics.requests.labels(trace.inbound.surface, exc.code).inc()


async def _close(events: AsyncIterator[StreamEvent]) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


def _as(request: ChatRequest | EmbeddingRequest, kind: type[R]) -> R:
    """The request as the kind this endpoint serves (a surface's parser decides which)."""
    if not isinstance(request, kind):
        raise InvalidRequest(f"this endpoint does not serve {type(request).__name__}")
    return request


def assemble(deltas: list[ToolCallDelta]) -> list[ToolCall]:
    """Whole tool calls from their streamed pieces."""
    calls: dict[int, ToolCall] = {}
    for d in deltas:
        current = calls.setdefault(d.index, ToolCall(id=d.id or "", name=d.name or "", arguments=""))
        current.id = current.id or d.id or ""
        current.name = current.name or d.name or ""
        current.arguments += d.arguments
    return [calls[i] for i in sorted(calls)]
