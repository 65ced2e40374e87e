"""`tools/list` per agent: the server's offered tools (see `catalog`) that the policy lets this agent call.

Each tool is asked about once with a request-phase input for a call of it with no arguments (`kind: tool`,
`operation: tools/call`, `tool_calls[0].arguments == {}`), plus `call.tool`: the tool's annotations and
the description scan's findings. A tool the policy would hold is listed (the agent may call it and wait).
Like `GET /v1/models`, these probes are not audited; a tool withheld by its pin is audited when seen.
"""

from __future__ import annotations

from typing import Any

from connectors.base import ToolCall
from gateway.mcp.catalog import ToolEntry
from gateway.model import Call, Principal, ToolPayload
from gateway.policy.input import build_input
from gateway.services import Services
from gateway.stages.decide import evaluate


def probe_input(entry: ToolEntry, principal: Principal, request_id: str, routes: list[str]) -> dict[str, Any]:
    call = ToolCall(id="", name=entry.name, arguments="{}")
    payload = ToolPayload(server=entry.server, call=call)
    probe = Call(surface="mcp", principal=principal, request_id=request_id, payload=payload)
    input_doc = build_input(probe, "request", routes, [call])
    input_doc["call"]["tool"] = {"annotations": entry.tool.get("annotations") or {}, "findings": entry.findings}
    return input_doc


async def visible_tools(
    services: Services, entries: dict[str, ToolEntry], principal: Principal, request_id: str
) -> list[dict[str, Any]]:
    routes = list(services.settings.routes)
    visible = []
    for entry in entries.values():
        if not entry.offered:
            continue
        input_doc = probe_input(entry, principal, request_id, routes)
        decision = await evaluate(services.policy, input_doc, services.settings.policy, services.metrics)
        if decision.allow:
            visible.append(entry.tool)
    return visible
