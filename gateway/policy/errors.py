"""regopy's compile errors as OPA prints them: `N errors occurred:` then `file:line:col: rego_..._error: msg`.

regopy raises its errors as an s-expression with length-prefixed strings and byte offsets, e.g.
`(rego-errorseq (error 9:/x/p.rego|43|2 (errormsg 16:this is unclosed) ...))`.
"""

from __future__ import annotations

import re

_ERROR = re.compile(r"\(error (\d+):")
_MESSAGE = re.compile(r"\(errormsg (\d+):")


def _prefixed(text: str, match: re.Match[str]) -> tuple[str, int]:
    start = match.end()
    end = start + int(match.group(1))
    return text[start:end], end


def _location(sources: dict[str, str], file: str, offset: int) -> tuple[int, int, str]:
    text = sources.get(file, "")
    before = text[:offset]
    line = before.count("\n") + 1
    column = offset - (before.rfind("\n") + 1) + 1
    lines = text.splitlines()
    return line, column, lines[line - 1] if 0 < line <= len(lines) else ""


def _kind(message: str) -> str:
    return "rego_parse_error" if "unclosed" in message or "unexpected" in message.lower() else "rego_compile_error"


def format_errors(raw: str, sources: dict[str, str]) -> str:
    """`raw` is str(RegoError); `sources` maps the module names given to regopy to their text."""
    entries = []
    for match in _ERROR.finditer(raw):
        file, end = _prefixed(raw, match)
        where = re.match(r"\|(\d+)\|(\d+)", raw[end:])
        message_match = _MESSAGE.search(raw, end)
        if not where or not message_match:
            continue
        message, _ = _prefixed(raw, message_match)
        line, column, excerpt = _location(sources, file, int(where.group(1)))
        entry = f"{file}:{line}:{column}: {_kind(message)}: {message}"
        if excerpt:
            entry += f"\n\t{excerpt}\n\t{' ' * (column - 1)}^"
        entries.append(entry)
    if not entries:
        return raw.strip()
    count = f"{len(entries)} error{'s' if len(entries) > 1 else ''} occurred:"
    return "\n".join([count, *entries])
