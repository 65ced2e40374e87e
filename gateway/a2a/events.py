"""What an A2A stream event means for relaying it: whether it is the stream's last.

A stream ends with a message, an error, or a task (or a status update) in a state that ends or interrupts
it: completed, failed, canceled, rejected, input required, auth required. Both versions' shapes are read:
0.3 (`{"kind": "status-update", "status": {"state": "completed"}, "final": true}`) and 1.0
(`{"statusUpdate": {"status": {"state": "TASK_STATE_COMPLETED"}}}`).

    >>> final({"result": {"kind": "message", "parts": []}})
    True
    >>> final({"result": {"statusUpdate": {"status": {"state": "TASK_STATE_WORKING"}}}})
    False
"""

from __future__ import annotations

from typing import Any

ENDING = frozenset({"completed", "failed", "canceled", "rejected", "input-required", "auth-required"})
ENDING_V1 = frozenset(f"TASK_STATE_{state.upper().replace('-', '_')}" for state in ENDING) | {"TASK_STATE_CANCELLED"}


def _state(update: Any) -> Any:
    status = update.get("status") if isinstance(update, dict) else None
    return status.get("state") if isinstance(status, dict) else None


def final(event: dict[str, Any]) -> bool:
    """Whether `event` (`{"result": ...}` or `{"error": ...}`) is the last of its stream."""
    result = event.get("result")
    if "error" in event or not isinstance(result, dict):
        return True
    if result.get("kind") == "message" or "message" in result:
        return True
    if result.get("final") is True:
        return True
    for update in (result, result.get("task"), result.get("statusUpdate")):
        if _state(update) in ENDING or _state(update) in ENDING_V1:
            return True
    return False
