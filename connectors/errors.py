"""Errors a connector raises. HTTP client errors never leave a connector; these do.

UpstreamError                 base; `status` is what the provider answered (0: no answer)
├── UpstreamUnavailable       connection refused / reset / dropped mid-stream (retryable)
├── UpstreamTimeout           no answer within the route's timeout (retryable)
├── UpstreamHTTPError         the provider answered with an error status (retryable on 429 / 5xx)
├── UpstreamRpcError          an MCP server or agent answered with a JSON-RPC error: its code, message and data
└── EndpointRefused           an agent's card names a URL its requests and credentials may not go to
"""

from __future__ import annotations

from typing import Any


class UpstreamError(Exception):
    retryable = True

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class UpstreamUnavailable(UpstreamError):
    pass


class UpstreamTimeout(UpstreamError):
    pass


class UpstreamHTTPError(UpstreamError):
    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message, status=status)
        self.retryable = status == 429 or status >= 500


class UpstreamRpcError(UpstreamError):
    """A JSON-RPC error answer, to be passed back as it came.

    >>> UpstreamRpcError(-32602, "unknown tool", {"tool": "x"}).rpc_code
    -32602
    """

    retryable = False

    def __init__(self, rpc_code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.rpc_code, self.data = rpc_code, data


class EndpointRefused(UpstreamError):
    """A URL a connector will not send an agent's requests to (the message says why and names its origin)."""

    retryable = False


class WireFormatError(ValueError):
    """A request body that does not follow its wire format; `param` names the offending field."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param

    @classmethod
    def from_validation(cls, exc: Exception) -> WireFormatError:
        errors: list[dict[str, Any]] = getattr(exc, "errors", list)()
        if not errors:
            return cls(str(exc))
        param = ".".join(str(p) for p in errors[0]["loc"])
        return cls(f"{param}: {errors[0]['msg']}" if param else errors[0]["msg"], param or None)
