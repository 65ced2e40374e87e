"""A response stage for agents' streams relayed live (`message/stream`, `SendStreamingMessage`, ...): each event
is decided before it goes on, not only the whole stream at its end.

It runs after `decide_response`, on parts already inspected and redacted (`redact_response` records what each
event carried in the journal). Before the first event, and again whenever the events so far carry PII not
decided on yet, it asks the policy for a response-phase decision on everything seen so far (the input of
an agent call's response phase changes only with its findings): a deny ends the stream there with the
denial (an in-stream JSON-RPC error, audited); a hold stops the relay, and the rest waits for the end of
the stream, where `decide_response` holds the whole answer for a reviewer. Any other call's parts are not
touched (the stage returns them as they are: no extra step for model streams).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from connectors.base import StreamEnd, TextDelta
from gateway.audit.journal import Journal
from gateway.flight import Flight
from gateway.model import AGENT_STREAMS
from gateway.reply import KeepAlive, Part
from gateway.stages.decide import decide_output

if TYPE_CHECKING:
    from gateway.services import Services


def _live(flight: Flight) -> bool:
    call = flight.call
    return call is not None and call.kind == "agent" and call.operation in AGENT_STREAMS


def decide_events(
    flight: Flight, services: Services, journal: Journal, parts: AsyncIterator[Part]
) -> AsyncIterator[Part]:
    return _decided(flight, services, journal, parts) if _live(flight) else parts


async def _decided(
    flight: Flight, services: Services, journal: Journal, parts: AsyncIterator[Part]
) -> AsyncIterator[Part]:
    decided_on: Counter[str] | None = None  # the findings the last decision saw
    held: list[Part] = []  # after a hold: everything until the end, where the whole answer is held
    async for part in parts:
        if held and not isinstance(part, StreamEnd | KeepAlive):
            held.append(part)
            continue
        if isinstance(part, TextDelta) and not held:
            seen = Counter(f.type for f in journal.output_findings)
            if seen != decided_on:
                plan = await decide_output(flight, services, journal)  # a deny raises: the stream ends here
                decided_on = seen
                if plan.action == "hold":
                    held.append(part)
                    continue
        if isinstance(part, StreamEnd):
            for kept in held:
                yield kept
            held = []
        yield part
