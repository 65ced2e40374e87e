"""The gateway's error tree. Each error has a stable `code` and an HTTP status; each surface renders
them in its own protocol's error shape (see `gateway/surfaces/*`).

    GatewayError                     500 internal_error
    ├── InvalidRequest               400 invalid_request     body does not follow the wire format
    │   └── RequestTooLarge          413 request_too_large   body over max_request_bytes
    ├── Unauthenticated              401 invalid_api_key     missing, unknown or revoked agent key
    ├── PolicyDenied                 403 policy_denied       the policy (or fail-closed) said no
    ├── RouteNotFound                404 model_not_found     no route for that model alias
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


class GatewayError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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


class RouteNotFound(GatewayError):
    status = 404
    code = "model_not_found"


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
    status = 503
    code = "policy_unavailable"


class StoreUnavailable(GatewayError):
    status = 503
    code = "store_unavailable"


class ConfigError(GatewayError):
    code = "config_error"
