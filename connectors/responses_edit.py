"""A native Responses answer with the gateway's edits put back: what the response stages changed in the neutral
view (redacted text, restored pseudonyms, scrubbed call arguments) written into the provider's own objects.

The neutral answer holds the text of all `output_text` parts as one string; `align` cuts the edited string
back into the parts where the original parts were (a difference alignment, so a redaction inside one part
stays in that part). A part whose text changed loses its `logprobs` (they would spell out the original text).
Everything else (reasoning items, annotations, hosted tool calls and their results, ids, usage) is the
provider's, unchanged, but for the overrides the surface asks for (the agent's model alias, its
`previous_response_id`).

    >>> align("Hi <EMAIL>, bye", ["Hi joe@x.io", ", bye"])
    ['Hi <EMAIL>', ', bye']
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from difflib import SequenceMatcher
from typing import Any

from connectors.base import ToolCall
from connectors.responses_native import call_name, hosted_arguments, texts


def _mapped(position: int, ops: Sequence[tuple[str, int, int, int, int]]) -> int:
    """Where `position` of the original text is in the edited one (inside a changed run: after it)."""
    for tag, i1, i2, j1, j2 in ops:
        if position == i1:
            return j1
        if i1 < position < i2:
            return j1 + position - i1 if tag == "equal" else j2
    return ops[-1][4] if ops else 0


def align(edited: str, originals: list[str]) -> list[str]:
    """`edited` (the stages' version of the joined `originals`) cut into as many parts, where they were."""
    if edited == "".join(originals) or not originals:
        return list(originals)
    if len(originals) == 1:
        return [edited]
    ops = SequenceMatcher(None, "".join(originals), edited, autojunk=False).get_opcodes()
    cuts, at = [0], 0
    for original in originals[:-1]:
        at += len(original)
        cuts.append(max(cuts[-1], _mapped(at, ops)))
    cuts.append(len(edited))
    return [edited[cuts[i] : cuts[i + 1]] for i in range(len(originals))]


def edit_item(item: dict[str, Any], call: ToolCall | None) -> dict[str, Any]:
    """A call item with the arguments the stages let through (a hosted call: the fields they changed)."""
    if call is None:
        return item
    if item.get("type") == "function_call":
        return item if item.get("arguments") == call.arguments else {**item, "arguments": call.arguments}
    if call.arguments == hosted_arguments(item):
        return item
    try:
        changed = json.loads(call.arguments)
    except ValueError:
        changed = {}
    return {**item, **(changed if isinstance(changed, dict) else {})}


def _edit_message(item: dict[str, Any], parts: list[str]) -> dict[str, Any]:
    content = []
    for part in item.get("content") or []:
        if part.get("type") == "output_text":
            text = parts.pop(0)
            if text != part.get("text"):
                part = {**part, "text": text, "logprobs": []}
        content.append(part)
    return {**item, "content": content}


def edit_output(output: list[dict[str, Any]], edited: str | None, calls: list[ToolCall]) -> list[dict[str, Any]]:
    """The output items with the stages' text (`edited`: all output_text joined) and calls put back."""
    parts = align(edited or "", texts(output))
    pending = list(calls)
    out = []
    for item in output:
        if item.get("type") == "message":
            item = _edit_message(item, parts)
        elif call_name(item) is not None:
            item = edit_item(item, pending.pop(0) if pending else None)
        out.append(item)
    return out


def edit_response(
    response: dict[str, Any], edited: str | None, calls: list[ToolCall], overrides: dict[str, Any]
) -> dict[str, Any]:
    """The provider's response object as the agent gets it."""
    return {**response, "output": edit_output(response.get("output") or [], edited, calls), **overrides}
