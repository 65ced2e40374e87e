"""JSON-RPC 2.0 as MCP uses it: message shapes, and the HTTP status of an answer. Errors are rendered by
`gateway.rendering` (its MCP code table: forbidden -32003, unauthenticated -32001, unknown tool -32602, ...);
a request the protocol itself refuses is a `ProtocolRefused` (`refused` names its code).
"""

from __future__ import annotations

from typing import Any

from mcp.shared.inbound import ERROR_CODE_HTTP_STATUS
from starlette.responses import JSONResponse

from gateway.errors import GatewayError, ProtocolRefused, Unauthenticated
from gateway.rendering import MCP, jsonrpc_error

RequestId = str | int | None
HEADER_MISMATCH = -32020
UNSUPPORTED_VERSION = -32022
NAMES = {  # the gateway's code of each JSON-RPC code a refusal can have (the audit's error_code)
    HEADER_MISMATCH: "header_mismatch",
    -32600: "invalid_request",
    -32601: "method_not_found",
    -32602: "invalid_params",
    -32700: "parse_error",
    UNSUPPORTED_VERSION: "unsupported_version",
}


def refused(rpc_code: int, message: str, data: Any = None, http_status: int | None = None) -> ProtocolRefused:
    return ProtocolRefused(rpc_code, message, NAMES.get(rpc_code, "invalid_request"), data, http_status)


def result(request_id: RequestId, body: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": body}


def error(request_id: RequestId, code: int, message: str, data: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": err}


def notification(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}


def http_status(message: dict[str, Any], modern: bool) -> int:
    """The HTTP status of an answer: 2026-07-28 maps some error codes to 4xx (the SDK's table); 2025-11-25
    answers JSON-RPC errors with 200. An unauthenticated caller gets 401 on both."""
    err = message.get("error")
    if not isinstance(err, dict):
        return 200
    if err.get("code") == MCP.unauthenticated:
        return 401
    return ERROR_CODE_HTTP_STATUS.get(err.get("code", 0), 200) if modern else 200


def error_reply(
    request_id: RequestId, exc: GatewayError, modern: bool, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A gateway error as the JSON-RPC answer of this revision, with its HTTP status."""
    message = jsonrpc_error("mcp", request_id, exc)
    status = exc.http_status if isinstance(exc, ProtocolRefused) and exc.http_status else None
    response = JSONResponse(message, status_code=status or http_status(message, modern), headers=headers)
    if isinstance(exc, Unauthenticated):
        response.headers["www-authenticate"] = "Bearer"
    return response
