"""`tools/call`, `resources/read` and `prompts/get` through the pipeline, as `kind: tool` calls.

The request becomes a `ToolPayload` (target: the tool name, or the resource URI; arguments: the call's
arguments as JSON), so authenticate, inspect, decide, redact, hold, route, forward and audit apply as they
do to model calls. A tool the catalog withholds (not approved, changed, shadowing) or does not know is
refused in the parse stage, so the refusal is audited with the agent who tried.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from starlette.requests import Request

from connectors.base import ToolCall
from connectors.errors import WireFormatError
from gateway.adapter import enter, inbound, origin, parsed_json
from gateway.errors import GatewayError, ToolWithheld
from gateway.mcp.hub import McpHub
from gateway.mcp.jsonrpc import refused, result
from gateway.mcp.protocol import Exchange
from gateway.mcp.waiting import Answer
from gateway.model import ToolPayload
from gateway.pipeline import Pipeline, Result
from gateway.rendering import INVALID_PARAMS, jsonrpc_error

CALLS = ("tools/call", "resources/read", "prompts/get")
MODERN_ONLY = ("resultType", "ttlMs", "cacheScope")


def _target(exchange: Exchange) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The name (or URI), the arguments and the `input_required` answers of the request."""
    params = exchange.message.get("params")
    params = params if isinstance(params, dict) else {}
    key = "uri" if exchange.method == "resources/read" else "name"
    name, arguments = params.get(key), params.get("arguments") or {}
    if not isinstance(name, str) or not name:
        raise refused(INVALID_PARAMS, f"params.{key} must be a non-empty string")
    if not isinstance(arguments, dict):
        raise refused(INVALID_PARAMS, "params.arguments must be an object")
    extras = {k: params[k] for k in ("inputResponses", "requestState") if params.get(k) is not None}
    return name, arguments, extras


async def _refusal(hub: McpHub, exchange: Exchange, name: str) -> GatewayError | WireFormatError | None:
    """Why the gateway will not forward a call of this tool (checked on a listing at most seconds old)."""
    if exchange.method != "tools/call":
        return None
    entry = (await hub.catalog.tools(exchange.server, fresh=False)).get(name)
    if entry is None:
        return WireFormatError(f"unknown tool '{name}' on MCP server '{exchange.server}'", "name")
    return None if entry.offered else ToolWithheld(entry.refusal())


def shape(body: dict[str, Any], modern: bool) -> dict[str, Any]:
    """A result as the client's revision has it: 2025-11-25 results carry no 2026 fields."""
    if modern:
        return {"resultType": "complete", **body}
    return {k: v for k, v in body.items() if k not in MODERN_ONLY}


async def run_call(request: Request, pipeline: Pipeline, hub: McpHub, exchange: Exchange) -> Answer:
    """One call through the pipeline; the answer as a JSON-RPC message (a result, or the error why not)."""
    name, arguments, extras = _target(exchange)
    if exchange.method is None:
        raise GatewayError("internal check failed: exchange.method is not None")
    payload = ToolPayload(
        server=exchange.server,
        call=ToolCall(id=str(exchange.request_id), name=name, arguments=json.dumps(arguments)),
        operation=exchange.method,
    )
    refusal = await _refusal(hub, exchange, name)

    def parse(_: Any) -> ToolPayload:
        if refusal is not None:
            raise refusal
        return payload

    came = origin(request, "mcp")
    if came.session is None and exchange.session is not None:  # X-Gateway-Session wins over the MCP session
        came = replace(came, session=("mcp", exchange.session.session_id))

    async def answer(outcome: Result, _: dict[str, str]) -> Answer:
        if outcome.reply is None or isinstance(outcome.reply, list):
            raise GatewayError("internal check failed: a tool call's reply is one answer")
        body = parsed_json(getattr(outcome.reply, "content", None) or "{}", "the tool's result")
        return result(exchange.request_id, shape(body, exchange.modern)), outcome.decision_id

    def fail(exc: GatewayError, _: dict[str, str]) -> Answer:
        return jsonrpc_error("mcp", exchange.request_id, exc), exc.decision_id

    call = inbound(request, came, exchange.message, parse)
    if extras:
        hub.extras[call.origin.call_id] = extras
    try:
        return await enter(pipeline, call, answer, fail)
    finally:
        hub.extras.pop(call.origin.call_id, None)
