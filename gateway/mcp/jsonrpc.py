"""JSON-RPC 2.0 as MCP uses it: message shapes, error codes, and the gateway's errors rendered as JSON-RPC.

Every gateway error becomes a JSON-RPC error whose `data.code` is the gateway's stable code (the same
codes the OpenAI and Anthropic surfaces use), with its details (`reasons`, `decision_id`, `approval_id`):

    PolicyDenied, ToolWithheld, approval errors    -32003  (forbidden: denied, held and rejected, expired)
    InvalidRequest, RouteNotFound (unknown tool)   -32602  (invalid params, as the spec says for unknown tools)
    Unauthenticated                                -32001  (HTTP 401)
    UpstreamRpcError                               the upstream server's own code and message
    anything else                                  -32000  (server error)
"""

from __future__ import annotations

from typing import Any

from mcp.shared.inbound import ERROR_CODE_HTTP_STATUS

from gateway.errors import (
    ApprovalError,
    ApprovalPending,
    GatewayError,
    InvalidRequest,
    PolicyDenied,
    RouteNotFound,
    Unauthenticated,
)
from gateway.mcp.upstream import UpstreamRpcError

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
SERVER_ERROR = -32000
UNAUTHENTICATED = -32001
FORBIDDEN = -32003

RequestId = str | int | None


class ToolWithheld(GatewayError):
    """A tool the gateway does not offer: not approved yet, changed since approval, or shadowing another
    server's tool of the same name. Raised in the parse stage, so the refusal is audited like any call."""

    status = 403
    code = "tool_withheld"


class RpcError(Exception):
    """A JSON-RPC error the surface answers with directly (before any call is made)."""

    def __init__(self, code: int, message: str, data: Any = None, http_status: int | None = None) -> None:
        super().__init__(message)
        self.rpc_code, self.message, self.data = code, message, data
        self.http_status = http_status


def result(request_id: RequestId, body: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": body}


def error(request_id: RequestId, code: int, message: str, data: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": err}


def notification(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}


def rpc_code(exc: GatewayError) -> int:
    if isinstance(exc, UpstreamRpcError):
        return exc.rpc_code
    if isinstance(exc, PolicyDenied | ApprovalError | ApprovalPending | ToolWithheld):
        return FORBIDDEN
    if isinstance(exc, InvalidRequest | RouteNotFound):
        return INVALID_PARAMS
    if isinstance(exc, Unauthenticated):
        return UNAUTHENTICATED
    return SERVER_ERROR


def gateway_error(request_id: RequestId, exc: GatewayError) -> dict[str, Any]:
    """A gateway error as a JSON-RPC error message."""
    if isinstance(exc, UpstreamRpcError):
        return error(request_id, exc.rpc_code, exc.message, exc.data)
    data: dict[str, Any] = {"code": exc.code, **exc.details()}
    if isinstance(exc, ApprovalPending):
        data["approval"] = exc.approval
    return error(request_id, rpc_code(exc), exc.message, data)


def http_status(message: dict[str, Any], modern: bool) -> int:
    """The HTTP status of an answer: 2026-07-28 maps some error codes to 4xx (the SDK's table); 2025-11-25
    answers JSON-RPC errors with 200. An unauthenticated caller gets 401 on both."""
    err = message.get("error")
    if not isinstance(err, dict):
        return 200
    if err.get("code") == UNAUTHENTICATED:
        return 401
    return ERROR_CODE_HTTP_STATUS.get(err.get("code", 0), 200) if modern else 200
