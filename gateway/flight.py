"""The value the stages pass along: one call in flight. Each stage returns a new `Flight`.

    Flight(origin, inbound)                    a surface hands the raw call over
      -> authenticate: + principal, - the key
      -> parse:        + call, - the body
      -> inspect:      + findings
      -> screen:       (injection signals of the untrusted content, on the journal)
      -> recall:       + session (the summary of what the call's session saw before it)
      -> limit:        + reservation (its share of the caller's limits, given back when the call ends)
      -> decide:       + plan
      -> redact:       call rewritten, + pseudonyms
      -> hold:         + approval (redeemed), or + gate (a stream waits), or + replay (a held answer)
      -> route:        + route
      -> forward:      + served (the target that answered)

What the call did (its decisions, attempts, errors) is not kept here but recorded in its audit `Journal`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gateway.approvals.records import Approval
from gateway.enforcement import Plan
from gateway.limits.limiter import Reservation
from gateway.model import Call, Inbound, Origin, Principal
from gateway.pii.findings import Findings
from gateway.pii.redactor import Pseudonyms
from gateway.settings import RouteConfig, RouteTarget


@dataclass(frozen=True, slots=True)
class Route:
    """Where a call goes: the alias it is routed by (the agent's, or the policy's override) and its targets."""

    alias: str
    config: RouteConfig


@dataclass(frozen=True, slots=True)
class Gate:
    """A held call's wait for its reviewer: `wait` returns the redeemed approval, or raises why not."""

    wait: Callable[[], Awaitable[Approval]]
    keepalive_s: float


@dataclass(frozen=True, slots=True)
class Flight:
    origin: Origin
    inbound: Inbound | None = None
    principal: Principal | None = None
    call: Call | None = None
    findings: Findings | None = None  # PII and secrets in the call as it came in
    plan: Plan | None = None
    pseudonyms: Pseudonyms | None = None  # placeholders sent upstream, restored in what comes back
    route: Route | None = None
    served: RouteTarget | None = None
    approval: Approval | None = None  # the approval this call redeemed (a held call going ahead)
    gate: Gate | None = None  # a streamed held call: what to wait for before forwarding
    replay: dict[str, Any] | None = None  # a held answer to deliver instead of asking upstream again
    session: dict[str, Any] | None = None  # input.session: what its session saw before this call (recall)
    reservation: Reservation | None = None  # what the call took from its caller's limits (gateway.limits)
    whole: bool = False  # the answer came whole (not streamed): nothing reaches the agent before its decision

    def need_inbound(self) -> Inbound:
        if self.inbound is None:
            raise RuntimeError("stage order: the raw call was already consumed")
        return self.inbound

    def need_call(self) -> Call:
        if self.call is None:
            raise RuntimeError("stage order: the call is not parsed yet")
        return self.call

    def need_route(self) -> Route:
        if self.route is None:
            raise RuntimeError("stage order: the call is not routed yet")
        return self.route
