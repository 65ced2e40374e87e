"""The gateway's error tree. Each error has a stable `code` and an HTTP status; each surface renders
them in its own protocol's error shape (see `gateway/surfaces/*`).

    GatewayError                     500 internal_error
    ├── InvalidRequest               400 invalid_request     body does not follow the wire format
    │   └── RequestTooLarge          413 request_too_large   body over max_request_bytes
    ├── Unauthenticated              401 invalid_api_key     missing, unknown or revoked agent key
    ├── PolicyDenied                 403 policy_denied       the policy (or fail-closed) said no
    ├── ApprovalPending              202 approval_pending    held; the agent asked to come back (Prefer: respond-async)
    ├── ApprovalError                403 approval_error      a held call did not go ahead
    │   ├── ApprovalRejected         403 approval_rejected   a reviewer (or the policy, re-checked) said no
    │   ├── ApprovalExpired          403 approval_expired    nobody decided before the deadline
    │   └── ApprovalRefused          403 approval_refused    a receipt (or a reviewer) that does not fit
    ├── RouteNotFound                404 model_not_found     no route for that model alias
    ├── ApprovalNotFound             404 approval_not_found  no such approval for this agent (unknown or another's)
    ├── UpstreamFailed               502 upstream_error      every provider of the route failed
    │   ├── UpstreamTimedOut         504 upstream_timeout
    │   ├── UpstreamRateLimited      429 upstream_rate_limited
    │   └── UpstreamRejected         4xx upstream_rejected   the provider refused the request itself
    ├── PolicyEngineError            500 policy_error        the engine failed (callers deny; never shown as allow)
    │   └── PolicyUnavailable        503 policy_unavailable  engine unreachable or over its time budget
    ├── StoreUnavailable             503 store_unavailable   the database cannot be reached (keys cannot be checked)
    └── ConfigError                      config_error        bad config file or policy; not an HTTP error
"""

from __future__ import annotations

from typing import Any


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


class PolicyEngineError(GatewayError):
    code = "policy_error"


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


class StoreUnavailable(GatewayError):
    status = 503
    code = "store_unavailable"
    retry_after = 2


class ConfigError(GatewayError):
    code = "config_error"
