"""The Responses API spoken natively: the body a native provider receives, and its answer in the neutral format.

A Responses call on a native route is lossless. The body is rebuilt from the shape the surface kept
(`connectors.responses_shape`) and the neutral messages as the request stages left them: only the model
(the route's), redactions, and the conversation that `previous_response_id` continues (expanded by the
gateway) differ from what the agent sent. The answer is kept whole, as its `response.completed` event, in
`ChatResponse.carried`; its neutral view (the text of its messages, the function calls, and the calls of hosted
tools, named as the policy names the tool) is what the response stages judge and edit
(`connectors.responses_edit` puts their edits back); the text it holds beside them (reasoning summaries,
hosted tools' results) is the response stages' to scrub, in place (`Upstream.texts`).

    >>> parse_answer({"id": "resp_1", "model": "m", "status": "completed", "output": []}).id
    'resp_1'
"""

from __future__ import annotations

import json
from typing import Any

from connectors.base import (
    Carried,
    CarriedText,
    ChatRequest,
    ChatResponse,
    StopReason,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from connectors.errors import UpstreamError
from connectors.responses_shape import SHAPE, fill_item

_RESULT_KEYS = ("id", "type", "status", "result", "outputs", "output", "results")  # not part of a call's request


def render_body(request: ChatRequest, model: str) -> dict[str, Any]:
    """The body for `{base_url}/responses`: the agent's, with the route's model and the request stages' edits."""
    shape = request.passthrough[SHAPE]
    body: dict[str, Any] = {"model": model, **shape["body"]}
    messages = request.messages
    if shape.get("instructions"):
        body["instructions"] = messages[0].text()
    items = [fill_item(item, messages) for item in shape["input"]]
    if shape.get("string_input") and len(items) == 1 and isinstance(items[0].get("content"), str):
        body["input"] = items[0]["content"]
    else:
        body["input"] = items
    if shape.get("tools"):
        body["tools"] = [tool.extras[SHAPE] for tool in request.tools if SHAPE in tool.extras]
    if shape.get("include") is not None:
        body["include"] = list(shape["include"])
    if request.stream:
        body["stream"] = True
    return body


def call_name(item: dict[str, Any]) -> str | None:
    """The tool an output item calls, as the policy names it (None: not a call). A function call is named by its
    function; a hosted tool's call (`web_search_call`, ...) by the tool (`web_search`, `mcp:<server_label>`)."""
    kind = str(item.get("type"))
    if kind == "function_call":
        return str(item.get("name"))
    if kind == "custom_tool_call":  # a custom tool runs at the agent: named as the tool is
        return str(item.get("name"))
    if kind in ("mcp_call", "mcp_approval_request", "mcp_list_tools"):
        return f"mcp:{item.get('server_label')}"
    if kind.endswith("_call"):
        return kind.removesuffix("_call")
    return None


def hosted_arguments(item: dict[str, Any]) -> str:
    """What a hosted tool's call asked (its action, query, code, ...), as JSON: what policy and inspection see."""
    return json.dumps({k: v for k, v in item.items() if k not in _RESULT_KEYS}, separators=(",", ":"))


def as_call(item: dict[str, Any]) -> ToolCall | None:
    name = call_name(item)
    if name is None:
        return None
    if item.get("type") == "function_call":
        return ToolCall(id=str(item.get("call_id")), name=name, arguments=str(item.get("arguments") or ""))
    return ToolCall(id=str(item.get("call_id") or item.get("id")), name=name, arguments=hosted_arguments(item))


def texts(output: list[dict[str, Any]]) -> list[str]:
    """The text of each `output_text` part of the output's messages, in order."""
    return [
        str(part.get("text") or "")
        for item in output
        if item.get("type") == "message"
        for part in item.get("content") or []
        if part.get("type") == "output_text"
    ]


def _usage(raw: Any) -> Usage:
    raw = raw or {}
    return Usage(input_tokens=raw.get("input_tokens") or 0, output_tokens=raw.get("output_tokens") or 0)


def stop_reason(response: dict[str, Any], calls: list[ToolCall]) -> StopReason:
    reason = (response.get("incomplete_details") or {}).get("reason")
    if reason == "max_output_tokens":
        return "length"
    if reason == "content_filter":
        return "content_filter"
    return "tool_calls" if calls else "stop"


def parse_answer(response: Any) -> ChatResponse:
    """A Responses `response` object as a neutral answer, the object itself kept in `extras`."""
    try:
        output = [item for item in response.get("output") or [] if isinstance(item, dict)]
        calls = [call for call in (as_call(item) for item in output) if call is not None]
        text = "".join(texts(output))
        return ChatResponse(
            id=str(response.get("id") or ""),
            model=str(response.get("model") or ""),
            content=text or None,
            tool_calls=calls,
            stop_reason=stop_reason(response, calls),
            usage=_usage(response.get("usage")),
            carried=[
                Upstream(
                    id=str(response.get("id") or ""),
                    model="",
                    event={"type": "response.completed", "response": response},
                )
            ],
        )
    except (AttributeError, TypeError, ValueError) as exc:
        raise UpstreamError(f"upstream sent a malformed response: {exc!r}", status=502) from exc


Path = tuple[str | int, ...]
_STREAMED = {  # a piece of a text of a reasoning item: its key's last part, and the index field naming it
    "response.reasoning_summary_text.delta": ("s", "summary_index"),
    "response.reasoning_text.delta": ("c", "content_index"),
}
_WHOLE = {
    "response.reasoning_summary_text.done": (("text",), "s", "summary_index"),
    "response.reasoning_summary_part.added": (("part", "text"), "s", "summary_index"),
    "response.reasoning_summary_part.done": (("part", "text"), "s", "summary_index"),
    "response.reasoning_text.done": (("text",), "c", "content_index"),
}


def item_texts(item: dict[str, Any]) -> list[tuple[Path, str]]:
    """Where an output item holds text beside the answer, and the kind of text: a reasoning item's summary and
    content, a hosted tool's results (MCP call output, file search results, code interpreter logs). A message's
    text is the answer itself (the neutral text), a call's arguments are the call's."""
    kind = item.get("type")
    fields: tuple[tuple[str, str], ...]
    if kind == "reasoning":
        fields = (("summary", "text"), ("content", "text"))
        where = "reasoning"
    elif kind == "file_search_call":
        fields, where = (("results", "text"),), "tool_result"
    elif kind == "code_interpreter_call":
        fields, where = (("outputs", "logs"),), "tool_result"
    elif kind == "mcp_call":
        return [(("output",), "tool_result")] if isinstance(item.get("output"), str) else []
    else:
        return []
    return [
        ((name, index, field), where)
        for name, field in fields
        for index, entry in enumerate(item.get(name) or [])
        if isinstance(entry, dict) and isinstance(entry.get(field), str)
    ]


def _get(tree: Any, path: Path) -> Any:
    for step in path:
        tree = tree[step]
    return tree


def _set(tree: Any, path: Path, value: str) -> Any:
    """A copy of `tree` with `value` at `path` (only the containers on the path are copied)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(tree, list):
        copy = list(tree)
        copy[int(head)] = _set(tree[int(head)], rest, value)
        return copy
    return {**tree, head: _set(tree[head], rest, value)}


class Upstream(Carried):
    """A provider's stream event with no neutral equivalent (reasoning, hosted tool progress, the lifecycle of
    items), carried in its place in the stream for the Responses surface; a whole answer is carried as its
    `response.completed` event. The text and calls it goes with travel as neutral events; the text it holds
    beside the answer (reasoning summaries and content, hosted tools' results) is listed for the response
    stages to scrub.

        >>> event = Upstream(id="r", model="", event={"type": "response.reasoning_summary_text.delta",
        ...     "output_index": 0, "summary_index": 1, "delta": "mail joe"})
        >>> event.texts()
        [CarriedText(key='0/s1', text='mail joe', streamed=True, where='reasoning')]
        >>> event.with_texts(["mail <EMAIL>"]).event["delta"]
        'mail <EMAIL>'
    """

    event: dict[str, Any]

    def _places(self) -> list[tuple[Path, str, bool, str]]:
        """(path in the event, key, streamed, where) of each text the event holds."""
        event, kind = self.event, str(self.event.get("type"))
        if kind in _STREAMED:
            letter, field = _STREAMED[kind]
            if not isinstance(event.get("delta"), str):
                return []
            return [(("delta",), f"{event.get('output_index')}/{letter}{event.get(field)}", True, "reasoning")]
        if kind in _WHOLE:
            path, letter, field = _WHOLE[kind]
            try:
                if not isinstance(_get(event, path), str):
                    return []
            except (KeyError, IndexError, TypeError):
                return []
            return [(path, f"{event.get('output_index')}/{letter}{event.get(field)}", False, "reasoning")]
        if kind in ("response.output_item.added", "response.output_item.done") and isinstance(event.get("item"), dict):
            index = event.get("output_index")
            return [(("item", *path), _key(index, path), False, where) for path, where in item_texts(event["item"])]
        response = event.get("response")
        if kind in ("response.completed", "response.incomplete") and isinstance(response, dict):
            output = response.get("output") or []
            return [
                (("response", "output", index, *path), _key(index, path), False, where)
                for index, item in enumerate(output)
                if isinstance(item, dict)
                for path, where in item_texts(item)
            ]
        return []

    def texts(self) -> list[CarriedText]:
        return [
            CarriedText(key, str(_get(self.event, path)), streamed, where)
            for path, key, streamed, where in self._places()
        ]

    def with_texts(self, texts: list[str]) -> Upstream:
        event = self.event
        for (path, *_), text in zip(self._places(), texts, strict=True):
            if _get(event, path) != text:
                event = _set(event, path, text)
        return self if event is self.event else self.model_copy(update={"event": event})

    def piece(self, key: str, text: str) -> Upstream | None:
        index, _, part = key.partition("/")
        kind = next((k for k, (letter, _) in _STREAMED.items() if part.startswith(letter)), None)
        if kind is None:
            return None
        field = _STREAMED[kind][1]
        fields = {k: self.event[k] for k in ("item_id", "output_index", field) if k in self.event}
        return self.model_copy(update={"event": {"type": kind, **fields, "delta": text}})


def _key(index: Any, path: Path) -> str:
    """The key of an item's text, as its streamed pieces name it ('0/s1': output 0, summary part 1)."""
    if path[0] in ("summary", "content"):
        return f"{index}/{str(path[0])[0]}{path[1]}"
    return f"{index}/{'.'.join(str(p) for p in path)}"


class EventParser:
    """A native Responses stream -> neutral events: `Upstream` for each provider event, and beside them the
    text deltas, each call whole (when its item is done) and the end, for the response stages."""

    def __init__(self) -> None:
        self.calls = 0
        self.called: list[ToolCall] = []
        self.ended = False

    def feed(self, event: dict[str, Any]) -> list[StreamEvent]:
        kind = str(event.get("type"))
        if kind in ("error", "response.failed"):
            error = event.get("error") or (event.get("response") or {}).get("error") or event
            raise UpstreamError(f"the provider failed the response: {error.get('message') or kind}", status=502)
        if kind == "response.output_text.delta":
            logprobs = event.get("logprobs")
            return [TextDelta(text=str(event.get("delta") or ""), logprobs={"content": logprobs} if logprobs else None)]
        response = event.get("response") or {}
        out: list[StreamEvent] = [Upstream(id=str(response.get("id") or ""), model="", event=event)]
        if kind == "response.output_item.done":
            call = as_call(event.get("item") or {})
            if call is not None:
                out.append(ToolCallDelta(index=self.calls, id=call.id, name=call.name, arguments=call.arguments))
                self.called.append(call)
                self.calls += 1
        if kind in ("response.completed", "response.incomplete"):
            self.ended = True
            out.append(StreamEnd(stop_reason=stop_reason(response, self.called), usage=_usage(response.get("usage"))))
        return out


def answer_object(reply: ChatResponse) -> dict[str, Any] | None:
    """The provider's response object of a native answer, as the response stages left it (None: not native)."""
    carried = next((c for c in reply.carried if isinstance(c, Upstream)), None)
    response = carried.event.get("response") if carried is not None else None
    return response if isinstance(response, dict) else None
