"""What a Responses request carries beyond the neutral format, kept so a native Responses route is lossless.

The neutral format holds what policy and inspection need: each message's text, its images, function calls and
their outputs. A Responses body holds more: content parts with their own keys, reasoning items with
`encrypted_content`, hosted tool call items, options with no Chat Completions name. The *shape* of the body (the
body without the texts the neutral messages carry) is kept in the request's `passthrough["responses"]`, where
the gateway's inspector reads every remaining string (and redaction rewrites them in place), so nothing goes
around it. A native connector rebuilds the body from the shape and the neutral messages as redaction left them
(`fill`); a translated route ignores the shape, and refuses what it cannot translate (`untranslatable`).

`include` is kept as the keys of an object: its values are API directives, not content, and some look like
domain names (`web_search_call.action.sources`) to the inspector, which reads values, not keys.

Each kept item holds its bookkeeping under one key, `_gw` (never sent): which neutral message it became
(`at`), the length of each text part (each part's text comes back from the neutral message's `parts`, as
redaction left each one; a message without them is cut at those lengths), whether content was a plain string.

    >>> shape = item_shape({"role": "user", "content": "hi"}, 0)
    >>> fill_item(shape, [Message(role="user", content="hi")])
    {'role': 'user', 'content': 'hi'}
"""

from __future__ import annotations

from typing import Any

from connectors.base import Message

SHAPE = "responses"  # the passthrough key of the shape
# top-level keys not in the shape's body: the neutral request carries them (tools: as sent, in each tool's extras,
# which the inspector does not read, as on every route), or the shape keeps them apart (`include`)
CARRIED = ("model", "input", "instructions", "previous_response_id", "stream", "tools", "include")
_TEXT_KEYS = {"input_text": "text", "output_text": "text", "text": "text", "refusal": "refusal"}
_META = "_gw"


def part_shape(part: dict[str, Any]) -> dict[str, Any]:
    """A content part without the text or image URL the neutral message carries."""
    key = _TEXT_KEYS.get(str(part.get("type")))
    if key is not None and isinstance(part.get(key), str):
        kept = {k: v for k, v in part.items() if k != key}
        return {**kept, _META: {"text": key, "chars": len(part[key])}}
    if part.get("type") == "input_image" and isinstance(part.get("image_url"), str):
        return {**{k: v for k, v in part.items() if k != "image_url"}, _META: {"image": True}}
    return dict(part)


def item_shape(item: dict[str, Any], at: int | list[int] | None) -> dict[str, Any]:
    """An input item without what its neutral message (number `at`; [message, call] for a function call)
    carries. Items the neutral format does not model (reasoning, hosted tool calls, ...) are kept whole."""
    kind = item.get("type", "message")
    if at is None:
        return dict(item)
    if kind == "message":
        content = item.get("content")
        kept = {k: v for k, v in item.items() if k != "content"}
        if isinstance(content, str):
            return {**kept, _META: {"at": at, "string": True}}
        parts = [part_shape(p) if isinstance(p, dict) else p for p in content or []]
        return {**kept, "content": parts, _META: {"at": at}}
    if kind == "function_call":
        return {**{k: v for k, v in item.items() if k != "arguments"}, _META: {"at": at}}
    if kind == "function_call_output" and isinstance(item.get("output"), str):
        return {**{k: v for k, v in item.items() if k != "output"}, _META: {"at": at}}
    return {**item, _META: {"at": at, "whole": True}}


def split(text: str, sizes: list[int]) -> list[str]:
    """`text` cut as the original parts were; if redaction changed its length, all of it in the first part."""
    if not sizes:
        return []
    if sum(sizes) != len(text):
        return [text] + [""] * (len(sizes) - 1)
    out, start = [], 0
    for size in sizes:
        out.append(text[start : start + size])
        start += size
    return out


def _fill_parts(parts: list[Any], message: Message) -> list[Any]:
    sizes = [p[_META]["chars"] for p in parts if isinstance(p, dict) and "chars" in p.get(_META, {})]
    cut = message.parts if message.parts is not None and len(message.parts) == len(sizes) else None
    texts, images = iter(cut if cut is not None else split(message.content or "", sizes)), iter(message.images)
    out = []
    for part in parts:
        if not isinstance(part, dict) or _META not in part:
            out.append(part)
            continue
        meta, filled = part[_META], {k: v for k, v in part.items() if k != _META}
        if "text" in meta:
            filled[meta["text"]] = next(texts, "")
        elif meta.get("image"):
            image = next(images, None)
            filled["image_url"] = image.as_url() if image else ""
        out.append(filled)
    return out


def fill_item(shape: dict[str, Any], messages: list[Message]) -> dict[str, Any]:
    """An input item rebuilt from its shape and the neutral messages (as redaction left them)."""
    meta = shape.get(_META)
    if meta is None:
        return dict(shape)
    item = {k: v for k, v in shape.items() if k != _META}
    if meta.get("whole"):
        return item
    at = meta["at"]
    kind = shape.get("type", "message")
    if kind == "function_call":
        item["arguments"] = messages[at[0]].tool_calls[at[1]].arguments
    elif kind == "function_call_output":
        item["output"] = messages[at].text()
    elif meta.get("string"):
        item["content"] = messages[at].text()
    else:
        item["content"] = _fill_parts(item.get("content") or [], messages[at])
    return item
