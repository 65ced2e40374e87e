"""Stage 4 (and on the way back): carry out the decision's `redact` list.

On the request, every finding of a listed type is rewritten in the call (messages, tool-call arguments,
tool results, embeddings inputs, pass-through fields) before anything leaves, in the mode the config or the
decision names, and a `redacted` audit event says what was done. On the response, text is scrubbed through a
bounded look-behind (`gateway.pii.stream`), so a value split across streamed deltas is still caught: values
of the listed types the model wrote are redacted, and pseudonyms are restored to the real values, in text
and in tool-call arguments. What comes back is inspected either way; its findings reach the response-phase
decision.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

from connectors.base import StreamEnd, TextDelta, ToolCall
from gateway.audit.journal import Journal
from gateway.flight import Flight
from gateway.pii.findings import Finding
from gateway.pii.redactor import Pseudonyms
from gateway.pii.segments import rewrite, segments
from gateway.pii.service import INLINE_CHARS, PiiService
from gateway.pii.stream import StreamScrubber
from gateway.reply import Part
from gateway.services import Services


async def redact(flight: Flight, services: Services, journal: Journal) -> Flight:
    pii, plan, findings = services.pii, flight.plan, flight.findings
    if pii is None or plan is None or not plan.redact or findings is None:
        return flight
    listed = set(plan.redact)
    chosen = [f for f in findings.items if f.type in listed]
    if not chosen:
        return flight
    call = flight.need_call()
    texts = segments(call.payload)
    pseudonyms, rewritten, done = Pseudonyms(), {}, []
    for number in sorted({f.segment for f in chosen}):
        _, _, text, path = texts[number]
        spans = [(f.start, f.end, f.type) for f in chosen if f.segment == number]
        rewritten[path] = pii.redact(text, spans, plan.redact_modes, pseudonyms)
    for finding in chosen:
        done.append((finding, pii.mode(finding.type, plan.redact_modes)))
    call = call.model_copy(update={"payload": rewrite(call.payload, rewritten)})
    journal.redacted(call.principal, call, done, "request")
    return replace(flight, call=call, pseudonyms=pseudonyms or None)


class _Output:
    """Scrubs one call's output: finds PII, redacts the listed types, restores pseudonyms, records findings."""

    def __init__(self, pii: PiiService, flight: Flight, journal: Journal) -> None:
        self.pii, self.journal = pii, journal
        self.listed = set(flight.plan.redact) if flight.plan else set()
        self.modes = flight.plan.redact_modes if flight.plan else {}
        self.pseudonyms = flight.pseudonyms or Pseudonyms()
        self.done: list[tuple[Finding, str]] = []
        self.offset = 0  # where the next piece of streamed text starts in the whole output

    async def scrub_async(self, text: str, where: str = "output", index: int = 0) -> str:
        if len(text) <= INLINE_CHARS:
            return self.scrub(text, where, index)
        return await asyncio.to_thread(self.scrub, text, where, index)

    def scrub(self, text: str, where: str = "output", index: int = 0) -> str:
        shift = self.offset if where == "output" else 0
        findings = self.pii.inspector.findings(text, where, index, offset=shift)
        if where == "output":
            self.offset += len(text)
        self.journal.output_findings.extend(findings)
        spans = [(f.start - shift, f.end - shift, f.type) for f in findings if f.type in self.listed]
        for finding in findings:
            if finding.type in self.listed:
                self.done.append((finding, self.pii.mode(finding.type, self.modes)))
        text = self.pii.redact(text, spans, self.modes, self.pseudonyms) if spans else text
        return self.pseudonyms.restore(text)


async def redact_response(
    flight: Flight, services: Services, journal: Journal, parts: AsyncIterator[Part]
) -> AsyncIterator[Part]:
    if services.pii is None:
        async for part in parts:
            yield part
        return
    output = _Output(services.pii, flight, journal)
    window = StreamScrubber()
    calls = 0
    async for part in parts:
        if isinstance(part, TextDelta):
            text = window.feed(part.text)
            if text:
                yield TextDelta(text=await output.scrub_async(text))
            continue
        if isinstance(part, ToolCall):
            arguments = await output.scrub_async(part.arguments, "tool_arguments", calls)
            yield part.model_copy(update={"arguments": arguments})
            calls += 1
            continue
        if isinstance(part, StreamEnd):
            rest = window.flush()
            if rest:
                yield TextDelta(text=await output.scrub_async(rest))
            if output.done:
                journal.redacted(flight.need_call().principal, flight.need_call(), output.done, "response")
        yield part
