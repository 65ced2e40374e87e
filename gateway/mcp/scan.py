"""A documented heuristic for tool poisoning: text in a tool's definition meant for the model, not the user.

Two kinds of finding, each `{"kind": ..., "detail": ...}`:

- `invisible_unicode`: format characters a reader does not see but a model reads (zero-width spaces and
  joiners, bidirectional overrides, Unicode tag characters U+E0000-E007F that can spell whole hidden
  sentences, the byte-order mark), counted per code point;
- `instruction`: phrases that address the model rather than describe the tool: telling it to ignore or
  override instructions, to keep something from the user, to read secrets or files, `<IMPORTANT>`-style
  markers, mentions of the system prompt or of other tools it must call first.

It is a heuristic: it catches the published tool-poisoning patterns, not every possible one, and a benign
description can trip it. Findings reach the policy (`tool.findings` in listing probes) and the operator's
`gateway tools list`; pinning, not this scan, is what stops a definition from changing under an agent.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

_INSTRUCTION_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(pattern, re.IGNORECASE))
    for label, pattern in (
        (
            "ignore instructions",
            r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instruction|rule|prompt|guideline)s?",
        ),
        ("hide from user", r"\b(do not|don't|never)\b.{0,30}\b(tell|mention|inform|show|reveal)\b.{0,30}\buser"),
        ("secret access", r"(~/\.ssh|id_rsa|\.env\b|/etc/passwd|api[_ -]?key|private key|credentials?)"),
        ("important marker", r"<\s*(important|system|instructions?)\s*>"),
        ("system prompt", r"\bsystem prompt\b"),
        ("call other tools", r"\b(before|after) (using|calling) (this|any other) tool\b"),
        ("imperative to model", r"\byou (must|should always|are required to)\b"),
    )
)


def _invisible(char: str) -> bool:
    code = ord(char)
    return unicodedata.category(char) == "Cf" or 0xE0000 <= code <= 0xE007F


def scan_text(text: str) -> list[dict[str, Any]]:
    """Findings in one text (a description, a schema's text)."""
    findings: list[dict[str, Any]] = []
    hidden = sorted({f"U+{ord(c):04X}" for c in text if _invisible(c)})
    if hidden:
        findings.append({"kind": "invisible_unicode", "detail": ", ".join(hidden)})
    for label, pattern in _INSTRUCTION_PATTERNS:
        if pattern.search(text):
            findings.append({"kind": "instruction", "detail": label})
    return findings


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for key, item in value.items() for t in (*_texts(key), *_texts(item))]
    if isinstance(value, list):
        return [t for item in value for t in _texts(item)]
    return []


def scan_definition(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """Findings anywhere in a tool's definition (schemas carry descriptions too), without duplicates."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for text in _texts(definition):
        for finding in scan_text(text):
            seen.setdefault((finding["kind"], finding["detail"]), finding)
    return list(seen.values())
