"""A decision's policy input as the audit log keeps it (`audit.keep_input`).

`full` keeps it exactly as the policy saw it. `summary`, the default, replaces the PII the inspection finds in
the values an agent wrote into it (tool-call arguments, the end user, the target's name and the request id, the
session's targets) by its type; the rest
is kept, findings included (they are types, counts and places already), so the shipped policies replay on it
exactly (a rule on an amount or a tool's name sees it as it was).

    >>> scrub = lambda text: text.replace("jane@example.com", "<EMAIL_ADDRESS>")
    >>> mail = {"name": "mail", "arguments": {"to": "jane@example.com"}}
    >>> kept = summary({"call": {"tool_calls": [mail]}}, (scrub, scrub))
    >>> kept["call"]["tool_calls"][0]["arguments"]
    {'to': '<EMAIL_ADDRESS>'}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Scrubbers = tuple[Callable[[str], str], Callable[[str], str]]  # for texts; for names (`PiiService.scrubbers`)


def kept(policy: dict[str, Any], scrubbers: Scrubbers, keep_input: str) -> dict[str, Any]:
    """A decision's `policy` record as the log keeps it: the input in `summary` (unless `full`), and the answers'
    reasons scrubbed as the event's own reasons are (a policy may quote what the agent sent)."""
    scrub = scrubbers[0]
    out = {**policy, "input": summary(policy["input"], scrubbers) if keep_input == "summary" else policy["input"]}
    for which in ("decision", "shadow"):
        answer = policy.get(which)
        if isinstance(answer, dict):
            answer = {**answer, "reasons": [scrub(r) for r in answer.get("reasons") or [] if isinstance(r, str)]}
            if isinstance(answer.get("hold"), dict) and isinstance(answer["hold"].get("reason"), str):
                answer["hold"] = {**answer["hold"], "reason": scrub(answer["hold"]["reason"])}
            out[which] = answer
    return out


def summary(input_doc: dict[str, Any], scrubbers: Scrubbers) -> dict[str, Any]:
    """The policy input as the log keeps it by default: PII in the values an agent wrote into it (tool-call
    arguments, the end user, the target's name) replaced by its type; findings are already types and counts."""
    scrub, name = scrubbers
    principal, call = dict(input_doc.get("principal") or {}), dict(input_doc.get("call") or {})
    if isinstance(principal.get("end_user"), str):
        principal["end_user"] = name(principal["end_user"])
    for key in ("target", "request_id"):  # names the agent chose, scrubbed as the event's own are
        if isinstance(call.get(key), str):
            call[key] = name(call[key])
    calls = call.get("tool_calls")
    if isinstance(calls, list):
        call["tool_calls"] = [
            {**c, "arguments": _scrub_values(c.get("arguments"), scrub)} if isinstance(c, dict) else c for c in calls
        ]
    out = {**input_doc, "principal": principal, "call": call}
    session = input_doc.get("session")
    if isinstance(session, dict) and isinstance(session.get("targets"), list):
        targets = [
            {**t, "target": name(t["target"])} if isinstance(t, dict) and isinstance(t.get("target"), str) else t
            for t in session["targets"]
        ]
        out["session"] = {**session, "targets": targets}
    return out


def _scrub_values(value: Any, scrub: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [_scrub_values(v, scrub) for v in value]
    if isinstance(value, dict):
        return {k: _scrub_values(v, scrub) for k, v in value.items()}
    return value
