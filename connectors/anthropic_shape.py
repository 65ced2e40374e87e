"""What an Anthropic request carries beyond the neutral format, kept so a same-format route is lossless.

The neutral format holds a message's text as one string. Anthropic messages hold blocks: several text blocks,
`cache_control` marks, thinking blocks an assistant turn must send back with tool use, `citations`, ... The
*shape* of each message (its blocks without the text the neutral format carries) is kept in the request's
`passthrough["anthropic.messages"]` (by neutral message index) and `passthrough["anthropic.system"]`, where
the gateway's inspector reads every string, so nothing goes around it. An Anthropic connector rebuilds the
blocks from the shape and the neutral text (as redaction left it); another format ignores the shape.

    >>> shape = block_shape([{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}])
    >>> fill(shape, Message(role="user", content="hi", parts=["hi"]), [], [])
    [{'type': 'text', 'cache_control': {'type': 'ephemeral'}, 'text': 'hi'}]
"""

from __future__ import annotations

import json
from typing import Any

from connectors.base import Image, Message, ToolSpec

MESSAGES = "anthropic.messages"
SYSTEM = "anthropic.system"
_CARRIED = {"text": "text", "tool_use": "input", "image": "source", "tool_result": "content"}


def block_shape(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The blocks without what the neutral message carries (text, tool input, image source, tool result)."""
    shape = []
    for block in blocks:
        carried = _CARRIED.get(str(block.get("type")))
        kept = {k: v for k, v in block.items() if k != carried}
        if block.get("type") == "text":
            kept["_chars"] = len(str(block.get("text") or ""))
        if block.get("type") == "tool_result" and isinstance(block.get("content"), list):
            kept["_content"] = block_shape(block["content"])  # its blocks, refilled from the tool message
        shape.append(kept)
    return shape


def _split(text: str, sizes: list[int]) -> list[str]:
    """`text` cut as the original blocks were; if redaction changed its length, all of it in the first block."""
    if sum(sizes) != len(text):
        return [text] + [""] * (len(sizes) - 1)
    out, at = [], 0
    for size in sizes:
        out.append(text[at : at + size])
        at += size
    return out


def _texts(shape: list[dict[str, Any]], message: Message) -> list[str]:
    """The text of each text block: the message's parts as redaction left them, block by block; a message
    without parts (translated from a format that had one string) cut as the original blocks were."""
    sizes = [int(b.get("_chars", 0)) for b in shape if b.get("type") == "text"]
    if message.parts is not None and len(message.parts) == len(sizes):
        return list(message.parts)
    return _split(message.text(), sizes)


def fill(
    shape: list[dict[str, Any]], message: Message, results: list[Message], images: list[Image]
) -> list[dict[str, Any]]:
    """Blocks rebuilt from a shape and the neutral message(s): text, tool calls, tool results, images in order;
    every other field of each block (`cache_control`, `citations`, ...) as it was sent."""
    texts, next_call, next_result = iter(_texts(shape, message)), iter(message.tool_calls), iter(results)
    next_image = iter(images)
    blocks = []
    for kept in shape:
        block = {k: v for k, v in kept.items() if k not in ("_chars", "_content")}
        kind = block.get("type")
        if kind == "text":
            block["text"] = next(texts, "")
            if not block["text"] and message.parts is None and len(shape) > 1:
                continue  # cut from one string that redaction changed: the rest of it went to the first block
        elif kind == "tool_use":
            call = next(next_call, None)
            block["input"] = _arguments(call.arguments) if call else {}
        elif kind == "tool_result":
            result = next(next_result, None) or Message(role="tool", content="")
            inner = kept.get("_content")
            block["content"] = fill(inner, result, [], []) if inner is not None else result.text()
        elif kind == "image":
            image = next(next_image, None)
            block["source"] = image_source(image) if image else {}
        blocks.append(block)
    return blocks


def _arguments(text: str) -> Any:
    try:
        return json.loads(text or "{}")
    except json.JSONDecodeError:
        return {"_raw": text}


def parse_tool(raw: dict[str, Any]) -> ToolSpec:
    """A tool; server tools (`web_search_*`, ...: a `type` other than `custom`) run at Anthropic itself."""
    kind = raw.get("type")
    return ToolSpec(
        name=str(raw.get("name")),
        description=raw.get("description"),
        parameters=raw.get("input_schema") or {"type": "object", "properties": {}},
        strict=raw.get("strict"),
        extras={"anthropic": {k: v for k, v in raw.items() if k not in ("name", "description", "input_schema")}},
        hosted=kind not in (None, "custom"),
    )


def render_tool(tool: ToolSpec) -> dict[str, Any] | None:
    """A tool for an Anthropic provider; None for a tool another format's provider runs itself."""
    kept = tool.extras.get("anthropic")
    if tool.hosted:
        return {**kept, "name": tool.name} if kept is not None else None
    out: dict[str, Any] = {**(kept or {}), "name": tool.name, "input_schema": tool.parameters}
    if tool.description is not None:
        out["description"] = tool.description
    return out


def image_of(block: dict[str, Any]) -> Image | None:
    source = block.get("source") or {}
    if source.get("type") == "base64" and source.get("data"):
        return Image(media_type=source.get("media_type"), data=source["data"])
    if source.get("type") == "url" and source.get("url"):
        return Image(url=source["url"])
    return None


def image_source(image: Image) -> dict[str, Any]:
    if image.url:
        return {"type": "url", "url": image.url}
    return {"type": "base64", "media_type": image.media_type, "data": image.data}
