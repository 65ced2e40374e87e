"""Reading an agent's JSON body, refusing what Python's `json` accepts but nothing downstream can carry.

`json.loads` takes `NaN` and `Infinity`, lone UTF-16 surrogates (`"\\ud800"`: not encodable as UTF-8, so
rendering or storing them fails later) and nesting deep enough to raise `RecursionError`. Each becomes an
`Unparsable` with its reason; the parse stage (after authentication) turns it into an audited 400.

    >>> load(b'{"a": NaN}').reason
    'the request body holds a non-finite number (NaN); JSON has none'
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request

MAX_DEPTH = 64  # nesting of objects and arrays; real requests (JSON Schemas included) stay far below
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # only an escape can put a surrogate into a str


class Unparsable:
    """A body that is not acceptable JSON, or too large: the parse stage turns it into an error."""

    def __init__(self, size: int, too_large: bool = False, reason: str | None = None) -> None:
        self.size = size
        self.too_large = too_large
        self.reason = reason or f"the request body is not valid JSON ({size} bytes)"


async def read_json(request: Request, limit: int) -> Any:
    """The parsed body; a body over `limit` bytes is not read further (and not kept)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return Unparsable(size, too_large=True)
        chunks.append(chunk)
    return load(b"".join(chunks))


def load(body: bytes) -> Any:
    """`body` parsed, or an `Unparsable` saying why not."""
    try:
        value = json.loads(body.decode("utf-8-sig"), parse_constant=_non_finite)  # strict: no encoded surrogates
    except _NonFinite as exc:
        return Unparsable(len(body), reason=f"the request body holds a non-finite number ({exc}); JSON has none")
    except RecursionError:
        return Unparsable(len(body), reason=f"the request body is nested deeper than {MAX_DEPTH} levels")
    except (ValueError, UnicodeDecodeError):
        return Unparsable(len(body))
    problem = _problem(value, body)
    return Unparsable(len(body), reason=problem) if problem else value


class _NonFinite(ValueError):
    pass


def _non_finite(name: str) -> Any:
    raise _NonFinite(name)


def _problem(value: Any, body: bytes) -> str | None:
    """Too deep, or a lone surrogate; the walk runs only when a cheap scan of the bytes says it may find one."""
    brackets = body.count(b"{") + body.count(b"[")
    surrogates = _SURROGATE_ESCAPE.search(body) is not None
    if brackets <= MAX_DEPTH and not surrogates:
        return None
    return _walk(value, check_strings=surrogates)


def _walk(value: Any, check_strings: bool) -> str | None:
    """Iterative (a recursive walk is what deep nesting breaks)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list) and depth > MAX_DEPTH:
            return f"the request body is nested deeper than {MAX_DEPTH} levels"
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
            stack.extend((k, depth) for k in item if check_strings)
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif check_strings and isinstance(item, str) and not _encodable(item):
            return "the request body holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape)"
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
