"""A stand-in provider that speaks the Responses API natively (`POST /v1/responses`, streaming and not).

It keeps every body it received, and answers from the model name and the conversation it was sent:
- any model: a message `native says: <the last user text>`, its output_text with logprobs (one token per word);
- `rich`: first a reasoning item (summary and encrypted_content), an annotation on the text, then a
  `web_search_call` when a web_search tool is offered, and a function call when the last user text asks for
  one (`call <tool>`);
- `leak`: the text also carries an email address and a card number; with `rich`, so do the reasoning summary
  (streamed in pieces of five characters) and the results of the hosted tools offered (`file_search`, `mcp`);
- `tool`: only a function call of the first function tool offered (arguments: {"amount": 5000}).
A stream is built from the same response object, with every semantic event type of its items.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.upstreams import cli_turn, tool_names


def _last_user_text(items: Any) -> str:
    if isinstance(items, str):
        return items
    for item in reversed(items or []):
        if item.get("type", "message") == "message" and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            return "".join(p.get("text", "") for p in content or [] if p.get("type") == "input_text")
    return ""


def _logprobs(text: str) -> list[dict[str, Any]]:
    words = text.split(" ")
    tokens = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
    return [{"token": t, "logprob": -0.5, "bytes": list(t.encode()), "top_logprobs": []} for t in tokens if t]


def _message(text: str, annotated: bool) -> dict[str, Any]:
    annotations = (
        [{"type": "url_citation", "url": "https://example.com/doc", "title": "Doc", "start_index": 0, "end_index": 6}]
        if annotated
        else []
    )
    part = {"type": "output_text", "text": text, "annotations": annotations, "logprobs": _logprobs(text)}
    return {"id": "msg_up1", "type": "message", "role": "assistant", "status": "completed", "content": [part]}


def _reasoning(leak: bool) -> dict[str, Any]:
    text = "Thinking about it." + (" Write to ops@leaky-corp.com, card 4111 1111 1111 1111." if leak else "")
    return {
        "id": "rs_up1",
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": text}],
        "encrypted_content": "gAAAAABencrypted-reasoning-blob==",
    }


def _hosted_results(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A `leak` model's hosted tool calls, one per hosted tool offered, whose results hold personal data."""
    offered = {str(t.get("type")): t for t in tools}
    out: list[dict[str, Any]] = []
    if "file_search" in offered:
        result = {"file_id": "file_1", "filename": "crm.txt", "score": 0.9, "text": "Owner: ops@leaky-corp.com"}
        out.append(
            {
                "id": "fs_up1",
                "type": "file_search_call",
                "status": "completed",
                "queries": ["owner"],
                "results": [result],
            }
        )
    if "mcp" in offered:
        out.append(
            {
                "id": "mcp_up1",
                "type": "mcp_call",
                "server_label": offered["mcp"].get("server_label"),
                "name": "lookup",
                "arguments": "{}",
                "output": "card on file: 4111 1111 1111 1111",
                "error": None,
            }
        )
    return out


def _function_call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "fc_up1",
        "type": "function_call",
        "call_id": "call_up1",
        "name": name,
        "arguments": json.dumps(arguments),
        "status": "completed",
    }


def _web_search() -> dict[str, Any]:
    action = {"type": "search", "query": "weather in Paris", "sources": [{"type": "url", "url": "https://x.test"}]}
    return {"id": "ws_up1", "type": "web_search_call", "status": "completed", "action": action}


def _cli_output(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A coding agent's model (`tests.upstreams.cli_turn`), on the Responses API."""
    items = body.get("input") if isinstance(body.get("input"), list) else []
    results = [i for i in items if i.get("type") == "function_call_output"]
    asked = "\n".join(_last_user_text([i]) for i in items if i.get("role") == "user")
    offered = tool_names([*(body.get("tools") or []), *(i for i in items if i.get("type") == "additional_tools")])
    text, call = cli_turn(asked, str(results[-1].get("output")) if results else None, offered)
    return [_function_call(call[0], call[1])] if call else [_message(text, annotated=False)]


def output_for(body: dict[str, Any]) -> list[dict[str, Any]]:
    model, text = body["model"], _last_user_text(body.get("input"))
    if "cli" in model:
        return _cli_output(body)
    functions = [t for t in body.get("tools") or [] if t.get("type") == "function"]
    if "tool" in model and functions:
        return [_function_call(functions[0]["name"], {"amount": 5000})]
    answer = f"native says: {text}"
    if "leak" in model:
        answer += " | mine: ops@leaky-corp.com 4111 1111 1111 1111"
    if "rich" not in model:
        return [_message(answer, annotated=False)]
    output = [_reasoning("leak" in model)]
    if any(t.get("type") == "web_search" for t in body.get("tools") or []):
        output.append(_web_search())
    if "leak" in model:
        output.extend(_hosted_results(body.get("tools") or []))
    output.append(_message(answer, annotated=True))
    if functions and "call " in text:
        output.append(_function_call(functions[0]["name"], {"city": "Paris"}))
    return output


def response_for(body: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    return {
        "id": f"resp_up{body.get('_n', 1)}",
        "object": "response",
        "created_at": 1_700_000_000,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "model": body["model"],
        "output": output_for(body),
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
        "store": body.get("store", True),
        "temperature": body.get("temperature"),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p"),
        "truncation": body.get("truncation") or "disabled",
        "usage": {
            "input_tokens": 21,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": 9,
            "output_tokens_details": {"reasoning_tokens": 3},
            "total_tokens": 30,
        },
        "metadata": body.get("metadata") or {},
        "user": body.get("user"),
    }


class _Events:
    """The semantic events of one response, numbered."""

    def __init__(self) -> None:
        self.out: list[dict[str, Any]] = []

    def add(self, kind: str, **fields: Any) -> None:
        self.out.append({"type": kind, "sequence_number": len(self.out), **fields})

    def message(self, index: int, item: dict[str, Any]) -> None:
        part = item["content"][0]
        where = {"item_id": item["id"], "output_index": index, "content_index": 0}
        self.add("response.content_part.added", **where, part={**part, "text": "", "logprobs": []})
        for entry in part["logprobs"]:
            self.add("response.output_text.delta", **where, delta=entry["token"], logprobs=[entry])
        for i, annotation in enumerate(part["annotations"]):
            self.add("response.output_text.annotation.added", **where, annotation_index=i, annotation=annotation)
        self.add("response.output_text.done", **where, text=part["text"], logprobs=part["logprobs"])
        self.add("response.content_part.done", **where, part=part)

    def reasoning(self, index: int, item: dict[str, Any]) -> None:
        where = {"item_id": item["id"], "output_index": index, "summary_index": 0}
        summary = item["summary"][0]
        self.add("response.reasoning_summary_part.added", **where, part={**summary, "text": ""})
        text = summary["text"]
        for at in range(0, len(text), 5):  # values are split across events
            self.add("response.reasoning_summary_text.delta", **where, delta=text[at : at + 5])
        self.add("response.reasoning_summary_text.done", **where, text=summary["text"])
        self.add("response.reasoning_summary_part.done", **where, part=summary)

    def function_call(self, index: int, item: dict[str, Any]) -> None:
        where = {"item_id": item["id"], "output_index": index}
        half = len(item["arguments"]) // 2
        for piece in (item["arguments"][:half], item["arguments"][half:]):
            self.add("response.function_call_arguments.delta", **where, delta=piece)
        self.add("response.function_call_arguments.done", **where, arguments=item["arguments"])

    def file_search_call(self, index: int, item: dict[str, Any]) -> None:
        for stage in ("in_progress", "searching", "completed"):
            self.add(f"response.file_search_call.{stage}", item_id=item["id"], output_index=index)

    def mcp_call(self, index: int, item: dict[str, Any]) -> None:
        self.add("response.mcp_call_arguments.done", item_id=item["id"], output_index=index, arguments="{}")
        self.add("response.mcp_call.completed", item_id=item["id"], output_index=index)

    def web_search_call(self, index: int, item: dict[str, Any]) -> None:
        for stage in ("in_progress", "searching", "completed"):
            self.add(f"response.web_search_call.{stage}", item_id=item["id"], output_index=index)


def stream_events(response: dict[str, Any]) -> list[dict[str, Any]]:
    events = _Events()
    started = {**response, "status": "in_progress", "output": [], "usage": None}
    events.add("response.created", response=started)
    events.add("response.in_progress", response=started)
    for index, item in enumerate(response["output"]):
        added = {**item, "status": "in_progress"}
        if item["type"] == "message":
            added["content"] = []
        if item["type"] == "function_call":
            added["arguments"] = ""
        events.add("response.output_item.added", output_index=index, item=added)
        getattr(events, item["type"])(index, item)
        events.add("response.output_item.done", output_index=index, item=item)
    events.add("response.completed", response=response)
    return events.out


class ResponsesUpstream:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []  # the response objects it answered with
        self.headers: list[dict[str, str]] = []
        self.app = Starlette(routes=[Route("/v1/responses", self.create, methods=["POST"])])

    async def create(self, request: Request) -> Response:
        body = await request.json()
        self.received.append(body)
        self.headers.append(dict(request.headers))
        response = response_for({**body, "_n": len(self.received)})
        self.sent.append(response)
        if not body.get("stream"):
            return JSONResponse(response)
        return StreamingResponse(self._stream(response), media_type="text/event-stream")

    async def _stream(self, response: dict[str, Any]) -> AsyncIterator[bytes]:
        for event in stream_events(response):
            yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
