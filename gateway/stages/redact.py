"""Stage 4 (and on the way back): carry out the decision's `redact` list.

On the request, every finding of a listed type is rewritten in the call (messages, tool-call arguments,
tool results, embeddings inputs, pass-through fields) before anything leaves, in the mode the config or the
decision names, and a `redacted` audit event says what was done. On the response, text is scrubbed through a
bounded look-behind (`gateway.pii.stream`), so a value split across streamed deltas is still caught: values
of the listed types the model wrote are redacted, and pseudonyms are restored to the real values, in text
and in tool-call arguments. What comes back is inspected either way; its findings reach the response-phase
decision.

Two things of the provider's own format ride along and cannot be edited, so they are kept or dropped whole:
- OpenAI logprobs: each token's entry is re-aligned with the text released, and dropped when any of its
  characters was changed (redacted, or a pseudonym restored): it would spell out what the agent must not see.
- Anthropic thinking blocks: signed by the provider, so never rewritten; a block whose thinking holds a value
  of a listed type is dropped (and audited as `dropped`). A pseudonym in it stays a pseudonym.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

from connectors.base import Carried, StreamEnd, TextDelta, Thinking, ToolCall
from gateway.audit.journal import Journal
from gateway.flight import Flight
from gateway.pii.findings import Finding
from gateway.pii.redactor import Pseudonyms
from gateway.pii.segments import rewrite, segments
from gateway.pii.service import INLINE_CHARS, PiiService
from gateway.pii.stream import LogprobAligner, StreamScrubber
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
        self.always = set(flight.plan.redact) if flight.plan else set()  # whoever wrote them
        # and these unless the caller itself sent the value (its own address may come back to it)
        self.listed = self.always | (set(flight.plan.redact_output) if flight.plan else set())
        self.own = {f.value_hash for f in flight.findings.items} if flight.findings else set()
        self.modes = flight.plan.redact_modes if flight.plan else {}
        self.pseudonyms = flight.pseudonyms or Pseudonyms()
        self.done: list[tuple[Finding, str]] = []
        self.offset = 0  # where the next piece of streamed text starts in the whole output
        self.windows: dict[str, tuple[StreamScrubber, Carried]] = {}  # carried texts still streaming, by key

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
        taken = [f for f in findings if self.takes(f)]
        spans = [(f.start - shift, f.end - shift, f.type) for f in taken]
        for finding in taken:
            self.done.append((finding, self.pii.output_mode(finding.type, self.modes)))
        text = self.pii.redact(text, spans, self.modes, self.pseudonyms, restorable=False) if spans else text
        return self.pseudonyms.restore(text)

    async def thinking_passes(self, thinking: Thinking, index: int) -> bool:
        """Whether a thinking block may reach the agent: no value of a listed type in its text."""
        text = thinking.text()
        if len(text) <= INLINE_CHARS:
            findings = self.pii.inspector.findings(text, "output", index)
        else:
            findings = await asyncio.to_thread(self.pii.inspector.findings, text, "output", index)
        self.journal.output_findings.extend(findings)
        listed = [f for f in findings if self.takes(f)]
        self.done.extend((f, DROPPED) for f in listed)
        return not listed

    async def carried(self, event: Carried) -> list[Carried]:
        """A provider's event with its text beside the answer scrubbed (a streamed text through a look-behind of
        its own); before it, what a look-behind still held of a text that has now arrived whole. An event
        whose streamed text is all held back is left out (it comes out with a later piece)."""
        pieces = event.texts()
        if not pieces:
            return [event]
        out: list[Carried] = []
        texts: list[str] = []
        for piece in pieces:
            if piece.streamed:
                window, _ = self.windows.get(piece.key) or (StreamScrubber(), event)
                self.windows[piece.key] = (window, event)
                released = window.feed(piece.text)
                texts.append(await self.scrub_async(released, piece.where) if released else "")
                continue
            out.extend(await self._rest(piece.key, piece.where))
            texts.append(await self.scrub_async(piece.text, piece.where))
        if all(piece.streamed for piece in pieces) and not any(texts):
            return out
        return [*out, event.with_texts(texts)]

    async def _rest(self, key: str, where: str) -> list[Carried]:
        window, last = self.windows.pop(key, (None, None))
        rest = window.flush() if window is not None else ""
        piece = last.piece(key, await self.scrub_async(rest, where)) if rest and last is not None else None
        return [piece] if piece is not None else []

    async def rests(self) -> list[Carried]:
        """What the look-behinds still hold at the end of a stream, scrubbed."""
        out: list[Carried] = []
        for key in list(self.windows):
            out.extend(await self._rest(key, "reasoning"))
        return out

    def takes(self, finding: Finding) -> bool:
        """Whether a value found in what came back is taken out of it."""
        return finding.type in self.always or (finding.type in self.listed and finding.value_hash not in self.own)


DROPPED = "dropped"  # the audit's mode for a value in a thinking block, which went with its block


class _Text:
    """The answer's text through the look-behind and the scrubber, with its logprobs re-aligned."""

    def __init__(self, output: _Output) -> None:
        self.output, self.window, self.logprobs = output, StreamScrubber(), LogprobAligner()

    async def feed(self, delta: TextDelta) -> TextDelta | None:
        self.logprobs.feed(delta.text, delta.logprobs)
        return await self._release(self.window.feed(delta.text))

    async def flush(self) -> TextDelta | None:
        return await self._release(self.window.flush())

    async def _release(self, text: str) -> TextDelta | None:
        if not text:
            return None
        scrubbed = await self.output.scrub_async(text)
        return TextDelta(text=scrubbed, logprobs=self.logprobs.release(len(text), scrubbed == text))


async def redact_more(
    flight: Flight, services: Services, journal: Journal, kept: list[TextDelta], types: list[str]
) -> list[TextDelta]:
    """A whole answer's text, redacted of the `types` the response decision asked for that the response stages
    did not take out as it came (as the decision's modes say; the caller's own values too: the policy saw them)."""
    if not kept:
        return kept
    text = "".join(delta.text for delta in kept)
    [redacted] = _more(flight, services, journal, [(text, "output")], types)
    if redacted == text:
        return kept
    return [TextDelta(text=redacted)]  # one piece without logprobs: they would spell out what was taken out


def redact_more_carried(
    flight: Flight, services: Services, journal: Journal, carried: list[Carried], types: list[str]
) -> list[Carried]:
    """The same for the text a whole answer carries beside it (reasoning summaries, hosted tools' results)."""
    out = []
    for event in carried:
        pieces = event.texts()
        texts = _more(flight, services, journal, [(p.text, p.where) for p in pieces], types) if pieces else []
        out.append(event.with_texts(texts) if pieces else event)
    return out


def _more(
    flight: Flight, services: Services, journal: Journal, texts: list[tuple[str, str]], types: list[str]
) -> list[str]:
    pii, plan = services.pii, flight.plan
    done = set(plan.redact) | set(plan.redact_output) if plan else set()
    extra = set(types) - done
    if pii is None or not extra:
        return [text for text, _ in texts]
    modes = plan.redact_modes if plan else {}
    out: list[str] = []
    done_now: list[tuple[Finding, str]] = []
    for index, (text, where) in enumerate(texts):
        findings = [f for f in pii.inspector.findings(text, where, index) if f.type in extra]
        spans = [(f.start, f.end, f.type) for f in findings]
        out.append(
            pii.redact(text, spans, modes, flight.pseudonyms or Pseudonyms(), restorable=False) if spans else text
        )
        done_now.extend((f, pii.output_mode(f.type, modes)) for f in findings)
    if done_now:
        journal.redacted(flight.need_call().principal, flight.need_call(), done_now, "response")
    return out


async def redact_response(
    flight: Flight, services: Services, journal: Journal, parts: AsyncIterator[Part]
) -> AsyncIterator[Part]:
    if services.pii is None:
        async for part in parts:
            yield part
        return
    output = _Output(services.pii, flight, journal)
    text = _Text(output)
    calls = thinking = 0
    async for part in parts:
        if isinstance(part, TextDelta):
            released = await text.feed(part)
            if released:
                yield released
            continue
        if isinstance(part, Carried):
            for event in await output.carried(part):
                yield event
            continue
        if isinstance(part, Thinking):
            rest = await text.flush()  # a new block: no value runs on from the text before it
            if rest:
                yield rest
            if await output.thinking_passes(part, thinking):
                yield part
            thinking += 1
            continue
        if isinstance(part, ToolCall):
            arguments = await output.scrub_async(part.arguments, "tool_arguments", calls)
            yield part.model_copy(update={"arguments": arguments})
            calls += 1
            continue
        if isinstance(part, StreamEnd):
            rest = await text.flush()
            if rest:
                yield rest
            for event in await output.rests():
                yield event
            if output.done:
                journal.redacted(flight.need_call().principal, flight.need_call(), output.done, "response")
        yield part
