"""The gateway's own logs: plain text, or one JSON object per line (`gateway serve --log-format json`).

A JSON line holds `time` (UTC, ISO 8601), `level`, `logger`, `message`, and, when it was written while a
call was being served, that call's `request_id` and `decision_id` (the pipeline binds them with
`bind_call` as the call starts; the decision id is read when the line is written, so lines after the
decision carry it). An exception adds `exception` (the traceback).

Logs never carry PII or secrets: every message and traceback is scrubbed before it is written. Inside a call
the gateway's PII engine scrubs it (each value replaced by its type, as in the audit log); everywhere a few
patterns that must never be written (agent keys, reviewer tokens, bearer tokens, e-mail addresses, SSNs,
provider keys) are replaced too. If scrubbing fails the message is withheld, not written raw.

    >>> configure("json", "info")  # doctest: +SKIP
    >>> logging.getLogger("gateway").warning("mail bob@example.com")  # doctest: +SKIP
    {"time": "2026-01-02T03:04:05.123Z", "level": "WARNING", "logger": "gateway", "message": "mail <EMAIL_ADDRESS>"}
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

LogFormat = Literal["text", "json"]
Scrub = Callable[[str], str]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Shapes scrubbed from every line, in a call or not (the PII engine, when bound, finds the rest).
_ALWAYS = [
    (re.compile(r"\bagk_[A-Za-z0-9_-]+"), "<AGENT_KEY>"),
    (re.compile(r"\brvt_[A-Za-z0-9_-]+"), "<REVIEWER_TOKEN>"),
    (re.compile(r"(?<=[Bb]earer )[A-Za-z0-9._~+/=-]{8,}"), "<BEARER_TOKEN>"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), "<API_KEY>"),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), "<AWS_ACCESS_KEY>"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<EMAIL_ADDRESS>"),
    (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), "<US_SSN>"),
]


@dataclass(frozen=True)
class CallContext:
    """The call being served, as the log sees it."""

    request_id: str
    decision_id: Callable[[], str | None]
    scrub: Scrub | None


_call: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar("gateway_log_call", default=None)
_scrubbing: contextvars.ContextVar[bool] = contextvars.ContextVar("gateway_log_scrubbing", default=False)


def bind_call(request_id: str, decision_id: Callable[[], str | None], scrub: Scrub | None) -> None:
    """Lines logged from here on in this task (and tasks it starts) belong to this call."""
    _call.set(CallContext(request_id, decision_id, scrub))


def current_call() -> CallContext | None:
    return _call.get()


def scrub(text: str, call: CallContext | None = None) -> str:
    """`text` with PII and secrets replaced by their types; raises if the PII engine fails."""
    if call is not None and call.scrub is not None and not _scrubbing.get():
        token = _scrubbing.set(True)  # the PII engine's own logging must not scrub itself
        try:
            text = call.scrub(text)
        finally:
            _scrubbing.reset(token)
    for pattern, tag in _ALWAYS:
        text = pattern.sub(tag, text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line, scrubbed; see the module docstring for the fields."""

    def format(self, record: logging.LogRecord) -> str:
        call = current_call()
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": _safe(record.getMessage(), call),
        }
        if call is not None:
            line["request_id"] = call.request_id
            decision_id = call.decision_id()
            if decision_id:
                line["decision_id"] = decision_id
        if record.exc_info:
            line["exception"] = _safe(self.formatException(record.exc_info), call)
        return json.dumps(line, ensure_ascii=False)


class ScrubbingFormatter(logging.Formatter):
    """The text format, scrubbed the same way."""

    def format(self, record: logging.LogRecord) -> str:
        return _safe(super().format(record), current_call())


def _safe(text: str, call: CallContext | None) -> str:
    try:
        return scrub(text, call)
    except Exception:  # never write what could not be scrubbed
        return f"[{len(text)} characters withheld: scrubbing failed]"


def configure(log_format: LogFormat, level: str) -> None:
    """Send every logger's lines to stderr in `log_format` at `level` (replacing earlier handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else ScrubbingFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    logging.getLogger("alembic").setLevel(logging.WARNING)
