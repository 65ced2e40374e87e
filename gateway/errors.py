"""The gateway's error tree: every error the gateway answers with is one of these classes, each with a stable
`code` and an HTTP status. `gateway.rendering` renders them in each protocol's shape (OpenAI, Anthropic, MCP
and A2A JSON-RPC, the admin APIs' JSON); nothing else builds an error body.

    GatewayError                     500 internal_error
    ├── InvalidRequest               400 invalid_request     body does not follow the wire format
    │   ├── RequestTooLarge          413 request_too_large   body over max_request_bytes
    │   ├── HeadersTooLarge          431 headers_too_large   a request's head over 64 KiB (refused by the server)
    │   ├── MethodNotFound           400 method_not_found    a JSON-RPC method the gateway does not proxy
    │   └── ProtocolRefused          400 (per protocol)      refused by a protocol's own rule (JSON-RPC code kept)
    ├── Unauthenticated              401 invalid_api_key     missing, unknown or revoked agent key
    ├── AccessDenied                 4xx (per error)         the reviewers' and audit APIs: sign-in, tokens, rights
    ├── NotFound                     404 not_found           no such endpoint, or nothing by that id for this caller
    │   └── ResponseNotFound         404 response_not_found  no kept Response by that id for this agent
    ├── MethodNotAllowed             405 method_not_allowed  an endpoint that does not take this HTTP method
    ├── PolicyDenied                 403 policy_denied       the policy (or fail-closed) said no
    ├── ToolWithheld                 403 tool_withheld       an MCP tool not offered (unapproved, changed, shadowing)
    ├── PriceUnknown                 403 price_unknown       a money limit applies and the model has no price
    ├── LimitReached                 429 (per limit)         a configured limit (`limits`) is reached; Retry-After
    │   ├── RateLimited              429 rate_limited        requests or tokens per window
    │   ├── BudgetExceeded           429 budget_exceeded     money per window
    │   └── ConcurrencyLimited       429 concurrency_limited calls in flight at once
    ├── ApprovalPending              202 approval_pending    held; the agent asked to come back (Prefer: respond-async)
    ├── ApprovalError                403 approval_error      a held call did not go ahead
    │   ├── ApprovalRejected         403 approval_rejected   a reviewer (or the policy, re-checked) said no
    │   ├── ApprovalExpired          403 approval_expired    nobody decided before the deadline
    │   └── ApprovalRefused          403 approval_refused    a receipt (or a reviewer) that does not fit
    │       └── ApprovalConflict     409 approval_conflict   no longer pending, or changed meanwhile: try again
    ├── RouteNotFound                404 model_not_found     no route for that model alias
    ├── ApprovalNotFound             404 approval_not_found  no such approval for this agent (unknown or another's)
    ├── UpstreamFailed               502 upstream_error      every provider of the route failed
    │   ├── UpstreamTimedOut         504 upstream_timeout
    │   ├── UpstreamRateLimited      429 upstream_rate_limited
    │   ├── UpstreamRejected         4xx upstream_rejected   the provider refused the request itself
    │   └── UpstreamRpcError         400 upstream_rejected   an MCP server's or agent's JSON-RPC error, passed on
    ├── UnreadableAfterRedaction     502 unreadable_after_redaction  a JSON answer a redaction broke: withheld
    ├── PolicyEngineError            500 policy_error        the engine failed (callers deny; never shown as allow)
    │   ├── NulInInput               500 policy_error        the rego-cpp fallback cannot take a NUL (denied)
    │   └── PolicyUnavailable        503 policy_unavailable  engine unreachable or over its time budget
    ├── StoreUnavailable             503 store_unavailable   the database cannot be reached (keys cannot be checked)
    └── ConfigError                      config_error        bad config file or policy; not an HTTP error
"""

from __future__ import annotations

from typing import Any

from connectors import errors as connector


class GatewayError(Exception):
    status = 500
    code = "internal_error"
    retry_after: int | None = None  # seconds, for a Retry-After header (capacity and outages, not verdicts)
    decision_id: str | None = None  # the audit record of the call it ended (set by the pipeline)

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> dict[str, Any]:
        """Fields the error body carries beside the message (each surface adds them to its error object)."""
        return {}


class InvalidRequest(GatewayError):
    status = 400
    code = "invalid_request"

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class RequestTooLarge(InvalidRequest):
    status = 413
    code = "request_too_large"


class HeadersTooLarge(InvalidRequest):
    status = 431
    code = "headers_too_large"


class MethodNotFound(InvalidRequest):
    """A JSON-RPC method the gateway does not proxy (JSON-RPC `-32601`)."""

    code = "method_not_found"


class ProtocolRefused(InvalidRequest):
    """A request a protocol's own rule refuses before it becomes a call (an MCP header that contradicts its
    body, an unsupported revision, an unknown session): its JSON-RPC code and HTTP status are the protocol's."""

    def __init__(
        self,
        rpc_code: int,
        message: str,
        code: str = "invalid_request",
        data: Any = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.rpc_code, self.code, self.data = rpc_code, code, data
        self.http_status = http_status  # the HTTP status the protocol gives it (None: the protocol's default)


class AccessDenied(GatewayError):
    """The reviewers' web app and the admin APIs: not signed in, a bad token, no right to this, too many tries."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.retry_after = status, code, retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


class NotFound(GatewayError):
    status = 404
    code = "not_found"


class ResponseNotFound(NotFound):
    """No kept Response by that id for this agent: unknown, expired, deleted, or another agent's."""

    code = "response_not_found"


class MethodNotAllowed(GatewayError):
    status = 405
    code = "method_not_allowed"


class Unauthenticated(GatewayError):
    status = 401
    code = "invalid_api_key"


class PolicyDenied(GatewayError):
    status = 403
    code = "policy_denied"

    def __init__(self, reasons: list[str], decision_id: str) -> None:
        super().__init__("denied by policy: " + ("; ".join(reasons) or "no reason given"))
        self.reasons = reasons
        self.decision_id = decision_id

    def details(self) -> dict[str, Any]:
        return {"reasons": self.reasons, "decision_id": self.decision_id}


class ToolWithheld(GatewayError):
    """A tool the gateway does not offer: not approved yet, changed since approval, or shadowing another
    server's tool of the same name. Raised in the parse stage, so the refusal is audited like any call."""

    status = 403
    code = "tool_withheld"


class ApprovalPending(GatewayError):
    """Not a failure: the call is held and the agent asked not to wait. Rendered as 202 with the approval."""

    status = 202
    code = "approval_pending"

    def __init__(self, approval: dict[str, Any], decision_id: str) -> None:
        super().__init__(f"held for approval ({approval.get('reason')}); retry with X-Gateway-Approval")
        self.approval = approval
        self.decision_id = decision_id


class ApprovalError(GatewayError):
    status = 403
    code = "approval_error"

    def __init__(self, message: str, approval_id: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.approval_id = approval_id
        self.extra = details

    def details(self) -> dict[str, Any]:
        return {"approval_id": self.approval_id, **self.extra}


class ApprovalRejected(ApprovalError):
    code = "approval_rejected"


class ApprovalExpired(ApprovalError):
    code = "approval_expired"


class ApprovalRefused(ApprovalError):
    code = "approval_refused"


class ApprovalConflict(ApprovalRefused):
    """The approval is no longer pending, or another reviewer changed it meanwhile: look again, try again."""

    status = 409
    code = "approval_conflict"


class RouteNotFound(GatewayError):
    status = 404
    code = "model_not_found"


class ApprovalNotFound(GatewayError):
    status = 404
    code = "approval_not_found"


class UpstreamFailed(GatewayError):
    status = 502
    code = "upstream_error"


class UpstreamTimedOut(UpstreamFailed):
    status = 504
    code = "upstream_timeout"


class UpstreamRateLimited(UpstreamFailed):
    status = 429
    code = "upstream_rate_limited"


class UpstreamRejected(UpstreamFailed):
    code = "upstream_rejected"

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class UpstreamRpcError(UpstreamFailed):
    """The upstream MCP server or agent answered with a JSON-RPC error: passed back to the agent as it came."""

    code = "upstream_rejected"
    status = 400

    def __init__(self, rpc_code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.rpc_code, self.data = rpc_code, data


def from_connector(exc: connector.UpstreamError, *, rate_limits: bool = True) -> UpstreamFailed:
    """The gateway's error for a connector's: the one place `connectors.errors` are translated. `rate_limits`: a
    429 goes back as a 429 (model providers); MCP servers and agents (False) answer a 429 with a 502.

        >>> from_connector(connector.UpstreamRpcError(-32602, "unknown tool")).rpc_code
        -32602
    """
    if isinstance(exc, connector.UpstreamRpcError):
        return UpstreamRpcError(exc.rpc_code, exc.message, exc.data)
    if isinstance(exc, connector.UpstreamTimeout):
        return UpstreamTimedOut(exc.message)
    if isinstance(exc, connector.UpstreamHTTPError) and exc.status == 429 and rate_limits:
        return UpstreamRateLimited(exc.message)
    if isinstance(exc, connector.UpstreamHTTPError) and not exc.retryable:
        return UpstreamRejected(exc.message, exc.status)
    return UpstreamFailed(exc.message)


class UnreadableAfterRedaction(GatewayError):
    """A JSON answer (an MCP result, an agent's answer) that no longer parses once redacted: withheld rather
    than guessed at."""

    status = 502
    code = "unreadable_after_redaction"

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} could not be passed on after redaction")


class PolicyEngineError(GatewayError):
    code = "policy_error"


class NulInInput(PolicyEngineError):
    def __init__(self) -> None:
        super().__init__("the input holds a NUL character, which the embedded engine cannot evaluate")


class PolicyUnavailable(PolicyEngineError):
    """The engine could not answer in time (down, restarting, over its budget): a capacity problem, so 503
    with Retry-After, not a 403 verdict. The call is still denied and audited (fail closed)."""

    status = 503
    code = "policy_unavailable"
    retry_after = 1

    def __init__(self, message: str, reasons: list[str] | None = None, decision_id: str | None = None) -> None:
        super().__init__(message)
        self.reasons = reasons or []
        self.decision_id = decision_id

    def details(self) -> dict[str, Any]:
        return {"reasons": self.reasons, "decision_id": self.decision_id} if self.decision_id else {}


class PriceUnknown(GatewayError):
    status = 403
    code = "price_unknown"

    def __init__(self, model: str) -> None:
        super().__init__(f"model {model!r} has no price (prices), and a money limit applies to this caller")


class LimitReached(GatewayError):
    """A limit of `limits` would be passed by this call: which one, its measure, and the counter's value."""

    status = 429

    def __init__(self, limit: str, measure: str, per: str | None, used: float, max: float, wait_s: int) -> None:
        window = f" per {per}" if per else " at once"
        super().__init__(f"limit {limit!r} reached: {measure} {_figure(used)} of {_figure(max)}{window}")
        self.limit, self.measure, self.per, self.used, self.max = limit, measure, per, used, max
        self.retry_after = wait_s

    def details(self) -> dict[str, Any]:
        return {"limit": self.limit, "measure": self.measure, "per": self.per, "used": self.used, "max": self.max}


def _figure(value: float) -> str:
    return f"{value:g}" if isinstance(value, int) or value == int(value) else f"{value:.6f}".rstrip("0")


class RateLimited(LimitReached):
    code = "rate_limited"


class BudgetExceeded(LimitReached):
    code = "budget_exceeded"


class ConcurrencyLimited(LimitReached):
    code = "concurrency_limited"


class StoreUnavailable(GatewayError):
    status = 503
    code = "store_unavailable"
    retry_after = 2


class ConfigError(GatewayError):
    code = "config_error"
