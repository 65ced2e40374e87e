"""The neutral format -> OpenAI Responses API answers: a whole `response` object, or its semantic stream events
(`response.created`, `response.output_item.added`, `response.output_text.delta`, ..., `response.completed`).

    >>> r = ResponseRenderer(echo({"model": "gpt"}, "gpt"), "resp_1")
    >>> [e["type"] for e in r.render(StreamStart(id="x", model="m"))]
    ['response.created', 'response.in_progress']
"""

from __future__ import annotations

import time
from typing import Any

from connectors.base import (
    ChatResponse,
    StopReason,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    Thinking,
    ToolCallDelta,
    Usage,
)
from connectors.responses_wire import new_item_id

_ECHOED = ("instructions", "temperature", "top_p", "max_output_tokens", "previous_response_id", "reasoning", "user")
_INCOMPLETE: dict[StopReason, str] = {"length": "max_output_tokens", "content_filter": "content_filter"}


def echo(body: Any, model: str) -> dict[str, Any]:
    """The request's settings as a response object repeats them (with the API's defaults)."""
    body = body if isinstance(body, dict) else {}
    out: dict[str, Any] = {k: body.get(k) for k in _ECHOED}
    out.update(
        model=model,
        tools=body.get("tools") or [],
        tool_choice=body.get("tool_choice") or "auto",
        parallel_tool_calls=body.get("parallel_tool_calls", True),
        store=body.get("store", True),
        metadata=body.get("metadata") or {},
        text=body.get("text") or {"format": {"type": "text"}},
        truncation=body.get("truncation") or "disabled",
        background=False,
    )
    return out


def usage_body(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},  # both required by the schema
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


def response_body(
    settings: dict[str, Any],
    response_id: str,
    created_at: int,
    output: list[dict[str, Any]],
    stop_reason: StopReason | None,
    usage: Usage | None,
) -> dict[str, Any]:
    """A `response` object; `stop_reason` None: still in progress."""
    incomplete = _INCOMPLETE.get(stop_reason) if stop_reason else None
    status = "in_progress" if stop_reason is None else ("incomplete" if incomplete else "completed")
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": None,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "output": output,
        "usage": usage_body(usage) if usage is not None else None,
        **settings,
    }


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(item_id: str, text: str | None, status: str = "completed") -> dict[str, Any]:
    content = [text_part(text)] if text is not None else []
    return {"id": item_id, "type": "message", "role": "assistant", "status": status, "content": content}


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def output_items(response: ChatResponse) -> list[dict[str, Any]]:
    items = [message_item(new_item_id("msg"), response.content)] if response.content else []
    items += [call_item(new_item_id("fc"), t.id, t.name, t.arguments) for t in response.tool_calls]
    return items


def render_response(response: ChatResponse, settings: dict[str, Any], response_id: str) -> dict[str, Any]:
    """A whole neutral answer as the `response` object the agent expects."""
    output = output_items(response)
    return response_body(settings, response_id, int(time.time()), output, response.stop_reason, response.usage)


class ResponseRenderer:
    """Neutral stream events -> Responses semantic events (dicts with `type` and `sequence_number`).
    After the end, `final` is the whole response object, as `response.completed` carried it."""

    def __init__(self, settings: dict[str, Any], response_id: str) -> None:
        self.settings = settings
        self.id = response_id
        self.created_at = int(time.time())
        self.sequence = 0
        self.output: list[dict[str, Any]] = []
        self.open: dict[str, Any] | None = None  # the item being streamed
        self.open_key: str | None = None  # "text" or "call:<index>"
        self.final: dict[str, Any] | None = None

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return event

    def _response(self, stop_reason: StopReason | None, usage: Usage | None) -> dict[str, Any]:
        return response_body(self.settings, self.id, self.created_at, list(self.output), stop_reason, usage)

    def render(self, event: StreamEvent) -> list[dict[str, Any]]:
        if isinstance(event, StreamStart):
            started = self._response(None, None)
            return [
                self._event("response.created", response=started),
                self._event("response.in_progress", response=started),
            ]
        if isinstance(event, TextDelta):
            return self._text(event.text)
        if isinstance(event, ToolCallDelta):
            return self._call(event)
        if isinstance(event, Thinking):  # an Anthropic provider's signed block: no Responses equivalent
            return []
        return self._end(event)

    def error(self, code: str, message: str, param: str | None = None) -> dict[str, Any]:
        return self._event("error", code=code, message=message, param=param)

    def _where(self) -> dict[str, Any]:
        if self.open is None:
            raise RuntimeError("internal check failed: self.open is not None")
        return {"item_id": self.open["id"], "output_index": len(self.output)}

    def _start(self, key: str, item: dict[str, Any]) -> list[dict[str, Any]]:
        events = self._close()
        self.open, self.open_key = item, key
        return events + [self._event("response.output_item.added", output_index=len(self.output), item=dict(item))]

    def _text(self, text: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        if self.open_key != "text":
            events = self._start("text", message_item(new_item_id("msg"), None, "in_progress"))
            events.append(
                self._event("response.content_part.added", **self._where(), content_index=0, part=text_part(""))
            )
            if self.open is None:
                raise RuntimeError("internal check failed: self.open is not None")
            self.open["content"] = [text_part("")]
        if self.open is None:
            raise RuntimeError("internal check failed: self.open is not None")
        self.open["content"][0]["text"] += text
        return events + [
            self._event("response.output_text.delta", **self._where(), content_index=0, delta=text, logprobs=[])
        ]

    def _call(self, delta: ToolCallDelta) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        key = f"call:{delta.index}"
        if self.open_key != key:
            item = call_item(new_item_id("fc"), delta.id or "", delta.name or "", "", "in_progress")
            events = self._start(key, item)
        if self.open is None:
            raise RuntimeError("internal check failed: self.open is not None")
        if delta.arguments:
            self.open["arguments"] += delta.arguments
            events.append(self._event("response.function_call_arguments.delta", **self._where(), delta=delta.arguments))
        return events

    def _close(self) -> list[dict[str, Any]]:
        item = self.open
        if item is None:
            return []
        where = self._where()
        events = []
        if item["type"] == "message":
            part = item["content"][0]
            events.append(
                self._event("response.output_text.done", **where, content_index=0, text=part["text"], logprobs=[])
            )
            events.append(self._event("response.content_part.done", **where, content_index=0, part=dict(part)))
        else:
            args = item["arguments"]
            # no `name` here: the schema's event has none (the item, in output_item.done, names the function)
            events.append(self._event("response.function_call_arguments.done", **where, arguments=args))
        item["status"] = "completed"
        events.append(self._event("response.output_item.done", output_index=where["output_index"], item=dict(item)))
        self.output.append(item)
        self.open = self.open_key = None
        return events

    def _end(self, end: StreamEnd) -> list[dict[str, Any]]:
        events = self._close()
        self.final = self._response(end.stop_reason, end.usage)
        kind = "response.completed" if self.final["status"] == "completed" else "response.incomplete"
        return events + [self._event(kind, response=self.final)]
