"""A native Responses stream, relayed to the agent: every event the provider sent, with the gateway's edits.

The stream reaches the relay after the response stages: the provider's events (`Upstream`) in their order,
the text as the stages released it (scrubbed, re-chunked by the PII look-behind, which the provider's events
overtake), each call whole just before the end (after the response decision), then the end. So:

- until the first event that depends on text or calls the stages still hold (a text part's `done`, any event
  of a function or hosted tool call, the completion), events go out as they come, and the released text goes
  out as `response.output_text.delta` events of the open text part: the common answer (reasoning, then one
  message) streams live;
- from then on, events wait for the end of the stream, where the response decision has let the calls
  through: they go out in the provider's order with the stages' text (each later text part as one delta) and
  calls put back (`connectors.responses_edit`), and `sequence_number`s renumbered. A denied call never leaves.

    >>> relay = NativeRelay({"model": "gpt"})
    >>> [e["type"] for e in relay.render(Upstream(id="r", model="", event={"type": "response.created",
    ...     "sequence_number": 0, "response": {"id": "r", "model": "gpt-5"}}))]
    ['response.created']
"""

from __future__ import annotations

from typing import Any

from connectors.base import StreamEnd, StreamEvent, TextDelta, ToolCall, ToolCallDelta
from connectors.responses_edit import align, edit_item
from connectors.responses_native import Upstream, call_name, texts

_LIVE = {"response.created", "response.queued", "response.in_progress"}
Where = tuple[int, int]  # (output_index, content_index) of a text part


def _live(event: dict[str, Any]) -> bool:
    """Whether an event can go out before the stages are done with the text and calls before it."""
    kind = str(event.get("type"))
    item_type = (event.get("item") or {}).get("type")
    if kind in _LIVE or "reasoning" in kind:
        return True
    if kind == "response.output_item.added":
        return item_type in ("message", "reasoning")
    if kind == "response.output_item.done":
        return item_type == "reasoning"
    return kind == "response.content_part.added"


def _where(event: dict[str, Any]) -> Where:
    return int(event.get("output_index") or 0), int(event.get("content_index") or 0)


class NativeRelay:
    def __init__(self, overrides: dict[str, Any]) -> None:
        self.overrides = overrides  # set on every response object (the agent's model alias, ...)
        self.sequence = 0
        self.live = True
        self.open: dict[str, Any] | None = None  # the text part live deltas go to
        self.live_text = ""
        self.held: list[dict[str, Any] | str] = []  # events and released text, after the live phase
        self.calls: list[ToolCall] = []
        self.final: dict[str, Any] | None = None  # the whole response, as `response.completed` carried it

    def _emit(self, event: dict[str, Any]) -> dict[str, Any]:
        out = {**event, "sequence_number": self.sequence}
        if isinstance(out.get("response"), dict) and out.get("type") not in (
            "response.completed",
            "response.incomplete",
        ):
            out["response"] = {**out["response"], **self.overrides}
        self.sequence += 1
        return out

    def render(self, event: StreamEvent) -> list[dict[str, Any]]:
        if isinstance(event, Upstream):
            return self._upstream(event.event)
        if isinstance(event, TextDelta):
            return self._text(event)
        if isinstance(event, ToolCallDelta):
            self.calls.append(ToolCall(id=event.id or "", name=event.name or "", arguments=event.arguments))
            return []
        if isinstance(event, StreamEnd):
            return self._finish()
        return []

    def _upstream(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        if not (self.live and _live(event)):
            self.live = False
            self.held.append(event)
            return []
        part = event.get("part") or {}
        if event.get("type") == "response.content_part.added" and part.get("type") == "output_text":
            self.open = {k: event.get(k) for k in ("item_id", "output_index", "content_index")}
        return [self._emit(event)]

    def _text(self, delta: TextDelta) -> list[dict[str, Any]]:
        if not (self.live and self.open is not None):
            self.held.append(delta.text)
            return []
        self.live_text += delta.text
        logprobs = (delta.logprobs or {}).get("content") or []
        return [
            self._emit({"type": "response.output_text.delta", **self.open, "delta": delta.text, "logprobs": logprobs})
        ]

    def _texts(self, output: list[dict[str, Any]]) -> dict[Where, str]:
        """The stages' text of each output_text part, by where it is."""
        places = [
            (index, content)
            for index, item in enumerate(output)
            if item.get("type") == "message"
            for content, part in enumerate(item.get("content") or [])
            if part.get("type") == "output_text"
        ]
        released = self.live_text + "".join(t for t in self.held if isinstance(t, str))
        parts = align(released, texts(output))
        if self.live_text and parts and not parts[0].startswith(self.live_text):  # the live part keeps what it sent
            parts = [self.live_text, *align(released[len(self.live_text) :], texts(output)[1:])]
        return dict(zip(places, parts, strict=False))

    def _finish(self) -> list[dict[str, Any]]:
        ended = next(
            (
                e
                for e in self.held
                if isinstance(e, dict) and e.get("type") in ("response.completed", "response.incomplete")
            ),
            None,
        )
        original = (ended or {}).get("response") or {}
        output = original.get("output") or []
        edited = _Edits(self._texts(output), self._calls_by_index(output), output)
        self.final = {**original, "output": [edited.item(i, item) for i, item in enumerate(output)], **self.overrides}
        out = []
        if self.open is not None:
            rest = edited.text(_where(self.open), "")[len(self.live_text) :]
            if rest:
                out.append(
                    self._emit({"type": "response.output_text.delta", **self.open, "delta": rest, "logprobs": []})
                )
        for event in self.held:
            if isinstance(event, dict):
                out.extend(self._emit(e) for e in self._edited(event, edited))
        return out

    def _calls_by_index(self, output: list[dict[str, Any]]) -> dict[int, ToolCall]:
        indexes = [i for i, item in enumerate(output) if call_name(item) is not None]
        return dict(zip(indexes, self.calls, strict=False))

    def _edited(self, event: dict[str, Any], edited: _Edits) -> list[dict[str, Any]]:
        kind = str(event.get("type"))
        where = _where(event)
        if kind in ("response.completed", "response.incomplete"):
            return [{**event, "response": self.final}]
        if kind in ("response.output_item.added", "response.output_item.done"):
            return [{**event, "item": edited.item(where[0], event.get("item") or {})}]
        if kind == "response.content_part.added" and (event.get("part") or {}).get("type") == "output_text":
            text = edited.text(where, "")
            ids = {k: event.get(k) for k in ("item_id", "output_index", "content_index")}
            delta: dict[str, Any] = {"type": "response.output_text.delta", **ids, "delta": text, "logprobs": []}
            return [event, delta] if text else [event]
        if kind == "response.output_text.done":
            return [edited.done_text(where, event)]
        if kind == "response.content_part.done" and (event.get("part") or {}).get("type") == "output_text":
            return [{**event, "part": edited.part(where, event["part"])}]
        if kind == "response.function_call_arguments.delta":
            return edited.arguments_delta(where[0], event)
        if kind == "response.function_call_arguments.done":
            call = edited.calls.get(where[0])
            return [{**event, "arguments": call.arguments}] if call else [event]
        return [event]


class _Edits:
    """The stages' text per text part and call per output index, applied to the provider's events."""

    def __init__(self, parts: dict[Where, str], calls: dict[int, ToolCall], output: list[dict[str, Any]]) -> None:
        self.parts = parts
        self.calls = {  # only the calls the stages changed: the others go out as the provider streamed them
            index: call for index, call in calls.items() if edit_item(output[index], call) is not output[index]
        }
        self.argued: set[int] = set()  # calls whose (whole) arguments went out as one delta

    def text(self, where: Where, default: str) -> str:
        return self.parts.get(where, default)

    def part(self, where: Where, part: dict[str, Any]) -> dict[str, Any]:
        text = self.text(where, str(part.get("text") or ""))
        return part if text == part.get("text") else {**part, "text": text, "logprobs": []}

    def done_text(self, where: Where, event: dict[str, Any]) -> dict[str, Any]:
        text = self.text(where, str(event.get("text") or ""))
        return event if text == event.get("text") else {**event, "text": text, "logprobs": []}

    def item(self, index: int, item: dict[str, Any]) -> dict[str, Any]:
        if item.get("type") == "message":
            content = [
                self.part((index, i), part) if part.get("type") == "output_text" else part
                for i, part in enumerate(item.get("content") or [])
            ]
            return {**item, "content": content}
        if item.get("type") == "function_call" and not item.get("arguments"):
            return item  # announced: its arguments are still to come
        return edit_item(item, self.calls.get(index)) if call_name(item) is not None else item

    def arguments_delta(self, index: int, event: dict[str, Any]) -> list[dict[str, Any]]:
        call = self.calls.get(index)
        if call is None:
            return [event]
        if index in self.argued:
            return []
        self.argued.add(index)
        return [{**event, "delta": call.arguments}]
