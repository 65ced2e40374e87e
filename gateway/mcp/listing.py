"""Listings per agent: what the policy lets this agent use, probed item by item as `tools/list` always was.

    tools/list                 the server's offered tools (see `catalog`)     probe: tools/call of the tool
    resources/list             the server's resources                          probe: resources/read of the URI
    resources/templates/list   the server's resource templates                 probe: resources/read of the template
    prompts/list               the server's prompts                            probe: prompts/get of the prompt

Each item is asked about once with a request-phase input for a call of it with no arguments (`kind: tool`,
`operation` the call the item is for, `target` its name, URI or URI template, `tool_calls[0].arguments ==
{}`); a tool's probe also carries `call.tool`: its annotations and the description scan's findings. An item
the policy would hold is listed (the agent may call it and wait). As for `GET /v1/models`, these probes are
not audited each (the listing is, as a `kind: list` call: `gateway.listing`); a tool withheld by its pin is
audited when seen. Listings are paginated as upstream paginates them
(the cursor is passed through); each page is filtered.
"""

from __future__ import annotations

from typing import Any

from connectors.base import ToolCall
from gateway.listing import visible
from gateway.mcp.catalog import ToolEntry
from gateway.model import Call, Principal, ToolPayload
from gateway.policy.input import build_input
from gateway.services import Services

# method -> (the result's list field, the item's name field, the operation the item is probed for)
LISTINGS: dict[str, tuple[str, str, str]] = {
    "resources/list": ("resources", "uri", "resources/read"),
    "resources/templates/list": ("resourceTemplates", "uriTemplate", "resources/read"),
    "prompts/list": ("prompts", "name", "prompts/get"),
}


def probe(server: str, name: str, operation: str, principal: Principal, request_id: str, routes: list[str]) -> Any:
    """The input of a probe: a call of `name` with no arguments, as `operation`."""
    call = ToolCall(id="", name=name, arguments="{}")
    payload = ToolPayload(server=server, call=call, operation=operation)
    probe_call = Call(surface="mcp", principal=principal, request_id=request_id, payload=payload)
    return build_input(probe_call, "request", routes, [call])


def probe_input(entry: ToolEntry, principal: Principal, request_id: str, routes: list[str]) -> dict[str, Any]:
    input_doc: dict[str, Any] = probe(entry.server, entry.name, "tools/call", principal, request_id, routes)
    input_doc["call"]["tool"] = {"annotations": entry.tool.get("annotations") or {}, "findings": entry.findings}
    return input_doc


async def visible_tools(
    services: Services, entries: dict[str, ToolEntry], principal: Principal, request_id: str
) -> list[dict[str, Any]]:
    routes = list(services.settings.routes)
    candidates = [
        (entry.tool, probe_input(entry, principal, request_id, routes)) for entry in entries.values() if entry.offered
    ]
    return await visible(services, candidates)


async def visible_items(
    services: Services, server: str, method: str, listed: dict[str, Any], principal: Principal, request_id: str
) -> dict[str, Any]:
    """One page of a resources or prompts listing (wire JSON), without the items the policy refuses."""
    field, key, operation = LISTINGS[method]
    routes = list(services.settings.routes)
    candidates = []
    for item in listed.get(field) or []:
        name = item.get(key) if isinstance(item, dict) else None
        if isinstance(name, str) and name:  # an item the agent could not name in a call is not offered
            candidates.append((item, probe(server, name, operation, principal, request_id, routes)))
    return {**listed, field: await visible(services, candidates)}
