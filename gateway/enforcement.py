"""Enforcement is a value: a policy decision becomes a `Plan` the gateway knows it can carry out.

The policy may ask for more than this gateway has enabled (a hold without an approval queue, a redaction
of an entity type no recognizer finds). `plan` is the one place that checks each part of a decision against
the gateway's `Capabilities` and turns what it cannot carry out into a deny with a reason, rather than
forwarding the call without it. PII redaction and the approval queue switch their capability on here.

    >>> decision = Decision(phase="request", allow=True, redact=["EMAIL_ADDRESS"])
    >>> plan(decision, Capabilities()).action
    'deny'
    >>> plan(decision, Capabilities(redactable=frozenset({"EMAIL_ADDRESS"}))).action
    'allow'
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.model import Decision, HoldRequest

Action = Literal["allow", "deny", "hold"]


class Capabilities(BaseModel):
    """What this gateway can carry out, built once at start from the config."""

    model_config = ConfigDict(frozen=True)

    redactable: frozenset[str] = frozenset()  # entity types the redaction stage can find and redact
    unredactable_reason: str | None = None  # why the others cannot be, when it is not the obvious
    approvals: bool = False  # an approval queue that can hold a call


class Plan(BaseModel):
    """What the gateway will do with one call (or one response): allow, deny or hold, and the redactions."""

    model_config = ConfigDict(frozen=True)

    action: Action
    decision_id: str
    reasons: list[str] = Field(default_factory=list)
    redact: list[str] = Field(default_factory=list)
    redact_modes: dict[str, str] = Field(default_factory=dict)
    hold: HoldRequest | None = None
    route: str | None = None
    hosted_tools: list[str] = Field(default_factory=list)  # hosted tools (Responses API) the decision allows
    hosted_unallowed: Literal["remove", "deny"] = "remove"
    removed_tools: list[str] = Field(default_factory=list)  # hosted tools taken out of the call before it left
    redact_output: list[str] = Field(default_factory=list)  # types taken out of what comes back (not the caller's)
    policy_version: str = ""
    input: dict[str, Any] = Field(default_factory=dict, repr=False)  # what the policy was asked (for re-checks)

    @property
    def allowed(self) -> bool:
        return self.action == "allow"


def _unsupported(decision: Decision, capabilities: Capabilities) -> list[str]:
    """Why this gateway cannot carry out what the decision asks ([] when it can)."""
    problems = []
    if decision.hold is not None and not capabilities.approvals:
        problems.append(f"approval required ({decision.hold.reason}) but this gateway has no approval queue")
    asked = dict.fromkeys([*decision.redact, *decision.redact_output])
    missing = [entity for entity in asked if entity not in capabilities.redactable]
    if missing:
        enabled = capabilities.unredactable_reason or (
            "PII redaction is not enabled" if not capabilities.redactable else "no recognizer finds them"
        )
        problems.append(f"redaction of {', '.join(missing)} required but {enabled}")
    return problems


def plan(decision: Decision, capabilities: Capabilities) -> Plan:
    """The decision as the gateway will enforce it: anything it cannot carry out denies, with the reason."""
    base = Plan(
        action="allow",
        decision_id=decision.decision_id,
        reasons=list(decision.reasons),
        redact=list(decision.redact),
        redact_modes=dict(decision.redact_modes),
        hold=decision.hold,
        route=decision.route,
        hosted_tools=list(decision.hosted_tools),
        hosted_unallowed=decision.hosted_unallowed,
        redact_output=list(decision.redact_output),
        policy_version=decision.policy_version,
    )
    if not decision.allow:
        return base.model_copy(update={"action": "deny"})
    problems = _unsupported(decision, capabilities)
    if problems:
        return base.model_copy(update={"action": "deny", "reasons": [*decision.reasons, *problems]})
    if decision.hold is not None:
        return base.model_copy(update={"action": "hold"})
    return base


def settle_hosted(enforced: Plan, offered: list[str]) -> Plan:
    """A request plan that settles the hosted tools the call offers but the decision does not name (before a
    hold: a reviewer is never asked about a call the gateway would refuse anyway): by default they are removed
    from the call (`removed_tools`, said in the reasons the audit keeps); `hosted_unallowed: "deny"` denies it."""
    refused = unallowed_hosted(offered, enforced)
    if not refused or enforced.action == "deny":
        return enforced
    if enforced.hosted_unallowed == "remove":
        removed = [f"hosted tool '{name}' removed from the call: the policy does not allow it" for name in refused]
        return enforced.model_copy(update={"removed_tools": refused, "reasons": [*enforced.reasons, *removed]})
    reasons = [
        f"hosted tool '{name}' is not allowed: it runs at the provider, where the gateway cannot govern its "
        "calls; a policy allows it by naming it in the decision's hosted_tools"
        for name in refused
    ]
    return enforced.model_copy(update={"action": "deny", "reasons": [*enforced.reasons, *reasons]})


def unallowed_hosted(offered: list[str], enforced: Plan | None) -> list[str]:
    """The hosted tools a call offers that its decision does not name (all of them without a decision).

    A hosted tool runs at the provider, where the gateway sees neither its calls nor their results, so it goes
    only where the policy allowed it by name (fail closed: a decision without `hosted_tools` allows none).

        >>> unallowed_hosted(["web_search", "code_interpreter"], Plan(action="allow", decision_id="d",
        ...     hosted_tools=["web_search"]))
        ['code_interpreter']
    """
    allowed = set(enforced.hosted_tools) if enforced is not None else set()
    return [name for name in offered if name not in allowed]
