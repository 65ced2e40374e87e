"""Every gateway error, in each protocol's shape: the one place an error body is built.

A protocol is how one kind of caller reads errors:

    openai     {"error": {"message", "type", "code", "param", ...details}}   chat, embeddings, Responses,
                                                                              models, plain HTTP agents
    anthropic  {"type": "error", "error": {"type", "message", "code", ...details}}
    mcp        a JSON-RPC error; `data` = {"code": <the gateway's code>, ...details}
    a2a        a JSON-RPC error, with A2A's own codes (its spec reserves -32001..-32007 for its errors)
    admin      {"error": {"code", "message"}}                                 reviewers' and audit APIs

Each JSON-RPC protocol has one code table here. A JSON-RPC error an upstream sent (`UpstreamRpcError`) or a
protocol's own refusal (`ProtocolRefused`) keeps its code. `protocol_of` picks the protocol of a request by
its path (and the Anthropic SDK's header), for answers given before any surface read the request: unknown
paths, and `unexpected`, the catch-all that turns anything unforeseen into the protocol's 500 with a decision
id, never a plain-text 500.

    >>> openai_body(RouteNotFound("no route 'x'"))["error"]["type"]
    'not_found_error'
    >>> jsonrpc_error("a2a", 7, PolicyDenied(["no"], "d1"))["error"]["code"]
    -32050
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.audit.events import AuditEvent
from gateway.errors import (
    ApprovalError,
    ApprovalPending,
    GatewayError,
    InvalidRequest,
    MethodNotFound,
    NotFound,
    PolicyDenied,
    ProtocolRefused,
    RouteNotFound,
    ToolWithheld,
    Unauthenticated,
    UpstreamRpcError,
)
from gateway.model import new_id, request_id

log = logging.getLogger("gateway")

Protocol = Literal["openai", "anthropic", "mcp", "a2a", "admin"]

OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_denied",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    431: "invalid_request_error",
    429: "rate_limit_error",
}
ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    431: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
}

# JSON-RPC 2.0's own codes, shared by both protocols
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
SERVER_ERROR = -32000


class RpcCodes:
    """One JSON-RPC protocol's codes for the gateway's refusals."""

    def __init__(self, unauthenticated: int, forbidden: int) -> None:
        self.unauthenticated, self.forbidden = unauthenticated, forbidden

    def of(self, exc: GatewayError) -> int:
        if isinstance(exc, UpstreamRpcError | ProtocolRefused):
            return exc.rpc_code
        if isinstance(exc, MethodNotFound):
            return METHOD_NOT_FOUND
        if isinstance(exc, PolicyDenied | ApprovalError | ApprovalPending | ToolWithheld):
            return self.forbidden
        if isinstance(exc, Unauthenticated):
            return self.unauthenticated
        if isinstance(exc, InvalidRequest | RouteNotFound | NotFound):
            return INVALID_PARAMS  # as MCP's spec says for an unknown tool
        return SERVER_ERROR


MCP = RpcCodes(unauthenticated=-32001, forbidden=-32003)
A2A = RpcCodes(unauthenticated=-32051, forbidden=-32050)  # clear of A2A's -32001..-32007
CODES: dict[str, RpcCodes] = {"mcp": MCP, "a2a": A2A}


def openai_body(exc: GatewayError) -> dict[str, Any]:
    error: dict[str, Any] = {"message": exc.message, "type": OPENAI_TYPES.get(exc.status, "api_error")}
    error.update(param=getattr(exc, "param", None), code=exc.code)
    return {"error": {**error, **exc.details()}}


def anthropic_body(exc: GatewayError) -> dict[str, Any]:
    error = {"type": ANTHROPIC_TYPES.get(exc.status, "api_error"), "message": exc.message, "code": exc.code}
    return {"type": "error", "error": {**error, **exc.details()}}


def admin_body(exc: GatewayError) -> dict[str, Any]:
    return {"error": {"code": exc.code, "message": exc.message}}


def jsonrpc_error(protocol: str, request_id: Any, exc: GatewayError) -> dict[str, Any]:
    """A gateway error as a JSON-RPC error message of `protocol` (mcp or a2a); an upstream's as it came."""
    if isinstance(exc, UpstreamRpcError):
        error: dict[str, Any] = {"code": exc.rpc_code, "message": exc.message}
        if exc.data is not None:
            error["data"] = exc.data
        return {"jsonrpc": "2.0", "id": request_id, "error": error}
    data: dict[str, Any] = {"code": exc.code, **exc.details()}
    if isinstance(exc, ProtocolRefused) and exc.data is not None:
        data = exc.data
    if isinstance(exc, ApprovalPending):
        data["approval"] = exc.approval
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "error": {"code": CODES[protocol].of(exc), "message": exc.message, "data": data},
    }


def body(protocol: Protocol, exc: GatewayError, request_id: Any = None) -> dict[str, Any]:
    if protocol == "anthropic":
        return anthropic_body(exc)
    if protocol in ("mcp", "a2a"):
        return jsonrpc_error(protocol, request_id, exc)
    if protocol == "admin":
        return admin_body(exc)
    return openai_body(exc)


def ids(request_id: str, decision_id: str | None) -> dict[str, str]:
    """The ids every answer carries: `request-id` too, since the anthropic SDK reads that one."""
    out = {"x-request-id": request_id, "request-id": request_id}
    if decision_id:
        out["x-gateway-decision-id"] = decision_id
    return out


def response(
    protocol: Protocol,
    exc: GatewayError,
    request_id: str,
    decision_id: str | None = None,
    rpc_id: Any = None,
    status: int | None = None,
) -> JSONResponse:
    """The error as an HTTP answer: its status (a JSON-RPC error: 200, but 401 for a missing key, unless the
    HTTP exchange itself failed: `status`), the ids, and Retry-After when the caller may try again shortly."""
    decision_id = exc.decision_id or decision_id
    out = ids(request_id, decision_id)
    if exc.retry_after is not None:
        out["retry-after"] = str(exc.retry_after)
    if status is None:
        status = exc.status
        if protocol in ("mcp", "a2a"):
            status = 401 if isinstance(exc, Unauthenticated) else 200
    if isinstance(exc, Unauthenticated):
        out["www-authenticate"] = "Bearer"
    if protocol == "admin":
        out["cache-control"] = "no-store"
    return JSONResponse(body(protocol, exc, rpc_id), status_code=status, headers=out)


def protocol_of(request: Request) -> Protocol:
    path = request.url.path
    if path.startswith("/v1/messages") or "anthropic-version" in request.headers:
        return "anthropic"
    if path.startswith("/mcp"):
        return "mcp"
    if path.startswith("/a2a"):
        return "a2a"
    if path.startswith(("/admin", "/ui")):
        return "admin"
    return "openai"


def request_id_of(request: Request) -> str:
    return request_id(request.headers.get("x-request-id"))


async def unexpected(request: Request, exc: Exception) -> Response:
    """The catch-all: anything no handler expected is the protocol's 500 with a decision id, logged with it and
    audited (a plain-text 500 would break the caller's SDK and leave no trace)."""
    decision_id, request_id = new_id(), request_id_of(request)
    log.error(
        "internal error on %s %s (decision %s)", request.method, request.url.path[:200], decision_id, exc_info=exc
    )
    error = GatewayError(f"internal error (request id {request_id}); see the gateway log")
    pipeline = getattr(request.app.state, "pipeline", None)
    if pipeline is not None:
        services = pipeline.services
        event = AuditEvent(
            decision_id=decision_id,
            call_id=new_id(),
            request_id=request_id,
            surface=protocol_of(request),
            kind="model",
            target=None,
            reasons=[f"{request.method} {request.url.path[:200]}"],
            error_code=error.code,
        )
        try:
            await services.audit.write([event.row()])
        except Exception:  # the store may be what failed: the answer still goes out
            log.exception("the internal error of decision %s could not be audited", decision_id)
    return response(protocol_of(request), error, request_id, decision_id, status=500)
