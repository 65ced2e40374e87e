"""The request path, written down once (the stage diagram of DESIGN.md):

    request stages    authenticate -> parse -> inspect -> screen -> recall -> limit -> decide -> redact -> record
                      -> hold -> route
                      (Flight, ...) -> Flight; `record` makes the decision durable before anything acts on it
    forward           to the route's targets; a whole answer or a stream
    response stages   redact (scrub, restore pseudonyms) -> decide (response phase; may hold)   parts -> parts
                      -> decide_events (an agent's live stream: each event decided before it goes on)
    audit             the call's events, in one `finally`, shielded from cancellation; then `remember`
                      adds what came back to the call's session (`gateway.sessions`), and `settle` counts what
                      the call used against its limits (`gateway.limits`)

Each call is a trace span, each stage a child span (`gateway.tracing`), timed for the audit record and
the `gateway_stage_seconds` histogram.

Every kind of call (model, embeddings, tool, agent) and every surface runs these same stages. Response
stages see the answer as parts (text deltas and whole tool calls, `gateway.reply`) whether it was streamed
or not, so each is written once. Adding a capability is one line in a list below and its module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from connectors.base import TextDelta, ToolCall
from gateway.audit.inputs import Scrubbers
from gateway.audit.journal import Journal
from gateway.errors import GatewayError, InvalidRequest
from gateway.flight import Flight
from gateway.logs import bind_call
from gateway.model import Inbound
from gateway.reply import Event, KeepAlive, Part, Reply, iterate, parts_of, rebuild, stream_parts, to_events
from gateway.services import Services
from gateway.sessions.remember import recall, remember
from gateway.stages.audit import audit
from gateway.stages.authenticate import authenticate
from gateway.stages.decide import decide, decide_response
from gateway.stages.forward import forward
from gateway.stages.hold import hold
from gateway.stages.inspect import inspect
from gateway.stages.limit import limit, settle
from gateway.stages.parse import parse
from gateway.stages.record import record
from gateway.stages.redact import redact, redact_response
from gateway.stages.route import route
from gateway.stages.screen import screen
from gateway.tracing import call_attributes, end_span

RequestStage = Callable[[Flight, Services, Journal], Awaitable[Flight]]
ResponseStage = Callable[[Flight, Services, Journal, AsyncIterator[Part]], AsyncIterator[Part]]

REQUEST_STAGES: tuple[RequestStage, ...] = (
    authenticate,
    parse,
    inspect,
    screen,
    recall,
    limit,
    decide,
    redact,
    record,
    hold,
    route,
)
RESPONSE_STAGES: tuple[ResponseStage, ...] = (redact_response, decide_response)

log = logging.getLogger("gateway.pipeline")


class Stream:
    """The events of a streamed answer. `aclose` always ends the call (its audit events), also when the
    agent left before the first event was read: a surface calls it once the response is over."""

    def __init__(self, events: AsyncGenerator[Event, None], finish: Callable[[], Awaitable[None]]) -> None:
        self._events = events
        self._finish = finish

    def __aiter__(self) -> Stream:
        return self

    def __anext__(self) -> Awaitable[Event]:
        return self._events.__anext__()

    async def aclose(self) -> None:
        try:
            await self._events.aclose()
        finally:
            await self._finish()


@dataclass
class Result:
    """What a surface renders: a whole answer or a stream, the decision id for the response header, and headers
    every answer of the call carries (the caller's limits, `x-ratelimit-*`)."""

    decision_id: str | None
    reply: Reply | None = None
    stream: Stream | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Pipeline:
    def __init__(
        self,
        services: Services,
        request_stages: tuple[RequestStage, ...] = REQUEST_STAGES,
        response_stages: tuple[ResponseStage, ...] = RESPONSE_STAGES,
    ) -> None:
        self.services = services
        self.request_stages = request_stages
        self.response_stages = response_stages

    async def run(self, inbound: Inbound) -> Result:
        """Run one call. Errors are `GatewayError`s for the surface to render (a bug is `internal_error`)."""
        journal = Journal(inbound.origin)
        bind_call(inbound.origin.request_id, lambda: journal.decision_id, self._scrub)  # its log lines name it
        flight = Flight(origin=inbound.origin, inbound=inbound)
        streaming = False
        failure: GatewayError | None = None
        tracer = self.services.tracing.tracer
        span = tracer.start_span(f"gateway {inbound.origin.surface}", kind=SpanKind.SERVER)
        try:
            with trace.use_span(span), self._outcome(journal):
                for stage in self.request_stages:
                    with self._stage(stage.__name__, journal):
                        flight = await stage(flight, self.services, journal)
                if flight.gate is not None:  # a held stream: answer at once, wait (with keep-alives) inside
                    streaming = True
                    stream = self._stream(flight, journal, self._gated(flight, journal))
                    return Result(journal.decision_id, stream=stream, headers=_headers(flight))
                with self._stage("forward", journal) as forward_span:
                    flight, upstream = await forward(flight, self.services, journal)
                    if forward_span.is_recording():
                        forward_span.set_attributes(call_attributes(flight, journal))
                if isinstance(upstream, AsyncIterator):
                    streaming = True
                    return Result(
                        journal.decision_id, stream=self._stream(flight, journal, upstream), headers=_headers(flight)
                    )
                flight = replace(flight, whole=True)
                parts = self._respond(flight, journal, iterate(parts_of(upstream)))
                reply = rebuild(upstream, [part async for part in parts])
                self._count(journal, "ok")
                return Result(journal.decision_id, reply=reply, headers=_headers(flight))
        except GatewayError as exc:
            failure = exc
            raise
        finally:
            try:
                if not streaming:  # a stream's events are written when the stream ends
                    await audit(journal, flight, self.services.audit, scrub=self._scrubbers)
            finally:
                end_span(span, flight, journal)  # a stream's too: its stages are over
            if failure is not None and failure.decision_id is None:  # every error names its audit record
                failure.decision_id = journal.decision_id
            if not streaming:
                settle(flight, journal, self.services)
                await remember(flight, journal, self.services)

    @contextlib.contextmanager
    def _stage(self, name: str, journal: Journal) -> Iterator[Span]:
        """Time a stage (the audit record's latency, the stage histogram) inside its own span."""
        started = time.perf_counter()
        tracing = self.services.tracing
        try:
            if not tracing.enabled:  # no exporter: not even no-op spans (a context switch each, per stage)
                yield trace.INVALID_SPAN
            else:
                with tracing.tracer.start_as_current_span(name) as span:
                    yield span
        finally:
            journal.time(name, started)
            self.services.metrics.stage(name, time.perf_counter() - started)

    def _stages(self, flight: Flight) -> tuple[ResponseStage, ...]:
        """The response stages of this call: the common ones, then its kind's own (if it has one)."""
        kind = self.services.kinds.get(flight.need_call().kind)
        return (*self.response_stages, kind.respond) if kind is not None and kind.respond else self.response_stages

    def _respond(self, flight: Flight, journal: Journal, parts: AsyncIterator[Part]) -> AsyncIterator[Part]:
        for stage in self._stages(flight):
            parts = stage(flight, self.services, journal, parts)
        return parts

    async def _gated(self, flight: Flight, journal: Journal) -> AsyncIterator[Event]:
        """A held stream's events: keep-alives until the reviewer decides, then the upstream's stream."""
        if flight.gate is None:
            raise GatewayError("internal check failed: flight.gate is not None")
        waiting = asyncio.ensure_future(flight.gate.wait())
        try:
            while not waiting.done():
                done, _ = await asyncio.wait({waiting}, timeout=flight.gate.keepalive_s)
                if not done:
                    yield KeepAlive()
            approved = replace(flight, approval=waiting.result(), gate=None)
        finally:
            if not waiting.done():
                waiting.cancel()
        started = time.perf_counter()
        _, upstream = await forward(approved, self.services, journal)
        journal.time("forward", started)
        if not isinstance(upstream, AsyncIterator):
            raise GatewayError("internal check failed: isinstance(upstream, AsyncIterator)")
        async for event in upstream:
            yield event

    def _stream(self, flight: Flight, journal: Journal, events: AsyncIterator[Event]) -> Stream:
        chain = [stream_parts(events)]
        for stage in self._stages(flight):
            chain.append(stage(flight, self.services, journal, chain[-1]))
        chain.append(_delivered(chain[-1], journal))
        out = to_events(chain[-1])
        state = {"completed": False, "finished": False}

        async def finish() -> None:
            if state["finished"]:
                return
            state["finished"] = True
            if not state["completed"] and journal.error_code is None:
                journal.failed("client_disconnected", "client disconnected before the stream ended")
            close = lambda: _close_all(out, *reversed(chain), events)  # noqa: E731
            await audit(journal, flight, self.services.audit, close=close, scrub=self._scrubbers)
            settle(flight, journal, self.services)
            await remember(flight, journal, self.services)

        async def relay() -> AsyncGenerator[Event, None]:
            try:
                with self._outcome(journal):
                    async for event in out:
                        yield event
                    state["completed"] = True
                    self._count(journal, "ok")
            finally:
                await finish()

        return Stream(relay(), finish)

    @property
    def _scrub(self) -> Callable[[str], str] | None:
        return self.services.pii.scrub if self.services.pii else None

    @property
    def _scrubbers(self) -> Scrubbers | None:
        return self.services.pii.scrubbers if self.services.pii else None

    @contextlib.contextmanager
    def _outcome(self, journal: Journal) -> Iterator[None]:
        """Record how the call ended; a bug becomes an audited `internal_error`, never a bare 500."""
        try:
            yield
        except GatewayError as exc:
            journal.failed(exc.code, exc.message)
            self._count(journal, exc.code)
            if isinstance(exc, InvalidRequest):  # nothing is refused as malformed without a line in the log
                log.warning("request %s refused (%d %s): %s", journal.origin.request_id, exc.status, exc.code, exc)
            raise
        except (asyncio.CancelledError, GeneratorExit):
            journal.failed("client_disconnected", "client disconnected before the call ended")
            raise
        except Exception as exc:
            request_id = journal.origin.request_id
            log.exception("internal error on request %s", request_id)
            error = GatewayError(f"internal error (request id {request_id}); see the gateway log")
            journal.failed(error.code, error.message)
            self._count(journal, error.code)
            raise error from exc

    def _count(self, journal: Journal, outcome: str) -> None:
        self.services.metrics.requests.labels(journal.origin.surface, outcome).inc()


def _headers(flight: Flight) -> dict[str, str]:
    return flight.reservation.headers() if flight.reservation is not None else {}


async def _delivered(parts: AsyncIterator[Part], journal: Journal) -> AsyncIterator[Part]:
    """Count the text a stream hands on (what a stream the agent leaves early used, `stages.limit.settle`)."""
    async for part in parts:
        if isinstance(part, TextDelta):
            journal.delivered += len(part.text)
        elif isinstance(part, ToolCall):
            journal.delivered += len(part.arguments)
        yield part


async def _close_all(*iterators: AsyncIterator[object]) -> None:
    """Close a chain of stream iterators, outermost first (each releases what it holds; the innermost, the
    upstream connection)."""
    for iterator in iterators:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
