"""An authenticated agent's MCP request refused before it became a call (headers that contradict the body,
an unsupported version, an unknown session) is still a decision: one audit event names who tried what."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from gateway.adapter import origin
from gateway.audit.events import AuditEvent
from gateway.errors import ProtocolRefused
from gateway.model import Principal, new_id
from gateway.services import Services


def _target(message: dict[str, Any]) -> str | None:
    params = message.get("params")
    if not isinstance(params, dict):
        return None
    target = params.get("uri") if message.get("method") == "resources/read" else params.get("name")
    return str(target)[:200] if target is not None else None


async def audit_refusal(
    services: Services,
    request: Request,
    principal: Principal,
    server: str,
    message: dict[str, Any],
    exc: ProtocolRefused,
) -> None:
    came = origin(request, "mcp")
    event = AuditEvent(
        decision_id=new_id(),
        call_id=came.call_id,
        request_id=came.request_id,
        agent=principal.agent,
        team=principal.team,
        key_id=principal.key_id,
        end_user=principal.end_user,
        surface="mcp",
        kind="tool",
        target=_target(message),
        provider=server,
        allow=False,
        reasons=[exc.message],
        error_code=exc.code,
        detail=f"method {str(message.get('method'))[:100]}",
    )
    await services.audit.write([event.row()])
