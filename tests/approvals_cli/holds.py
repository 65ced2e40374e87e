"""A held call as the hold stage would describe it, for tests that need one in the queue."""

from __future__ import annotations

from typing import Any

from gateway.approvals.records import Held
from gateway.model import new_id

SECRET_ARGUMENT = "sk-live-51HxSECRETxARGUMENTx9f3a"


def held_call(tool: str = "refund", agent: str = "support-bot", approvers: str | None = "finance") -> Held:
    """A model call whose reply asks for `tool`; the arguments (in the payload only) carry a secret-looking value."""
    call: dict[str, Any] = {"name": tool, "arguments": {"amount": 5000, "api_key": SECRET_ARGUMENT}}
    input_doc = {
        "principal": {"agent": agent, "team": "cs", "key_id": "k1"},
        "call": {"kind": "model", "phase": "response", "surface": "openai", "target": "echo", "tool_calls": [call]},
        "routes": ["echo"],
        "pii": [],
    }
    return Held(
        phase="response",
        kind="model",
        surface="openai",
        agent=agent,
        team="cs",
        key_id="k1",
        end_user=None,
        target="echo",
        approvers=approvers,
        reason="refunds over 1000 need finance",
        reasons=[],
        tool_calls=[tool],
        action_hash=new_id(),
        request_hash=new_id(),
        policy_version="v1",
        decision_id=new_id(),
        call_id=new_id(),
        request_id=new_id()[:16],
        payload={"action": {"tool_calls": [call]}, "input": input_doc, "reply": {}},
    )
