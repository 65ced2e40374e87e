"""Stage 2c (and 8): prompt-injection signals on the untrusted content a call carries or brings back
(`guards.injection`, docs/injection.md). Nothing is changed or refused here: the policy sees the result as
`input.injection` and decides (the default policy holds consequential tool calls after injected content).

Untrusted is what the principal did not write: tool results in a model call's messages (`tool_results`), what
an MCP tool returns (`mcp_results`) and what another agent answers (`agent_answers`). The system prompt and the
user's own turns are the principal's words and are not scanned. The flagged passages, with some text either
side, are kept on the call's journal for a reviewer, should the call (or a later one in its session) be held.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.audit.journal import Journal
from gateway.flight import Flight
from gateway.guards.injection import InjectionReport, Passage
from gateway.model import ModelPayload
from gateway.pii.segments import strings
from gateway.services import Services

AROUND = 200  # characters shown either side of a flagged passage
PASSAGE_MAX = 1_000  # characters of one flagged passage shown (the detector's are sentence-sized)
KEPT = 3  # parts whose flagged passages are kept for the reviewer


def excerpts(report: InjectionReport, texts: dict[str, str]) -> list[dict[str, Any]]:
    """The report's flagged passages as a reviewer's page shows them: per part, the stretch from its first flagged
    passage to its last (`pieces`: [text, flagged] in order, the flagged ones at most PASSAGE_MAX characters
    each) with AROUND characters either side; the parts in the report's order, at most KEPT of them."""
    by_part: dict[str, list[Passage]] = {}
    for passage in report.passages:
        by_part.setdefault(passage.where, []).append(passage)
    out: list[dict[str, Any]] = []
    for where, found in list(by_part.items())[:KEPT]:
        text = texts.get(where, "")
        spans = sorted((p.start, min(p.end, p.start + PASSAGE_MAX)) for p in found)
        pieces: list[list[Any]] = []
        at = spans[0][0]
        for start, end in spans:
            if start > at:
                pieces.append([text[at:start], False])
            start = max(start, at)
            if end > start:
                pieces.append([text[start:end], True])
            at = max(at, end)
        out.append(
            {
                "where": where,
                "score": max(p.score for p in found),
                "signals": sorted({s for p in found for s in p.signals}),
                "before": text[max(0, spans[0][0] - AROUND) : spans[0][0]],
                "pieces": pieces,
                "after": text[at : at + AROUND],
                "cut_before": spans[0][0] > AROUND,
                "cut_after": at + AROUND < len(text),
            }
        )
    return out


def _bounded(parts: list[tuple[str, str]], budget: int) -> list[tuple[str, str]]:
    """The parts up to `budget` characters in all, the newest first (what the model reads last matters most)."""
    kept: list[tuple[str, str]] = []
    for where, text in reversed(parts):
        if budget <= 0:
            break
        kept.append((where, text[:budget]))
        budget -= len(text)
    return list(reversed(kept))


def scan(services: Services, journal: Journal, parts: list[tuple[str, str]]) -> None:
    """Scan `parts` (where, text) and record what was found on the call's journal (what the policy and audit
    event see, and the passages a reviewer would)."""
    detector, config = services.injection, services.settings.guards.injection
    if detector is None or not parts:
        return
    parts = _bounded(parts, config.max_chars)
    report = detector.scan(parts)
    journal.injection = report.document()
    if report.flagged:
        journal.flagged = excerpts(report, dict(parts))
    services.metrics.injection(report.flagged)


def _document_text(block: dict[str, Any]) -> str:
    """The text of an Anthropic `document` (a text source, or content blocks) or `search_result` block; "" for
    one the gateway cannot read as text (a PDF, an image)."""
    source = block.get("source")
    if block.get("type") == "document" and isinstance(source, dict):
        if source.get("type") == "text" and isinstance(source.get("data"), str):
            return str(source["data"])
        content = source.get("content") if source.get("type") == "content" else None
    else:
        content = block.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n\n".join(str(b["text"]) for b in content if isinstance(b, dict) and isinstance(b.get("text"), str))
    return ""


def documents(value: Any) -> list[str]:
    """The texts of the documents and search results anywhere in `value` (a request's unmodelled blocks)."""
    if isinstance(value, list):
        return [found for item in value for found in documents(item)]
    if not isinstance(value, dict):
        return []
    if value.get("type") in ("document", "search_result"):
        text = _document_text(value)
        return [text] if text else []
    return [found for item in value.values() for found in documents(item)]


def request_parts(flight: Flight, services: Services) -> list[tuple[str, str]]:
    """The untrusted texts a model call carries: the tool results in its messages (`messages[i]`) and the
    documents it passes (`documents[k]`)."""
    payload, where = flight.need_call().payload, services.settings.guards.injection.where
    if not isinstance(payload, ModelPayload):
        return []
    out = []
    if "documents" in where:
        out += [(f"documents[{k}]", text) for k, text in enumerate(documents(payload.request.passthrough))]
    if "tool_results" not in where:
        return out
    for i, message in enumerate(payload.request.messages):
        if message.role == "tool":
            text = "\n".join(p for p in message.parts if p) if message.parts is not None else message.text()
            if text:
                out.append((f"messages[{i}]", text))
    return out


async def screen(flight: Flight, services: Services, journal: Journal) -> Flight:
    """Request phase: the tool results a model call carries."""
    scan(services, journal, request_parts(flight, services))
    return flight


ANSWER_SOURCES = {"tool": ("mcp_results", "tool_result"), "agent": ("agent_answers", "agent_answer")}


def _readable(text: str) -> str:
    """An answer as its reader reads it: the prose of a JSON document (an MCP result's content, an agent's
    message parts: its strings with a space in them or longer than a word), unescaped; any other text as it is."""
    if not text.lstrip().startswith(("{", "[")):
        return text
    try:
        document = json.loads(text)
    except ValueError:
        return text
    prose = (value for _, value in strings(document) if " " in value.strip() or len(value) > 32)
    return "\n\n".join(prose)


def screen_answer(flight: Flight, services: Services, journal: Journal, text: str) -> None:
    """Response phase: what an MCP tool or another agent answered (untrusted for the agent that reads it)."""
    source = ANSWER_SOURCES.get(flight.need_call().kind)
    if source is None or source[0] not in services.settings.guards.injection.where or not text:
        return
    scan(services, journal, [(source[1], _readable(text))])
