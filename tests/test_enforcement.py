"""A decision becomes a plan: what the gateway cannot carry out is denied, with a reason that says why."""

from __future__ import annotations

from gateway.enforcement import Capabilities, plan
from gateway.model import Decision, HoldRequest

HOLD = HoldRequest(reason="large transfer", approvers="finance")


def decision(**fields) -> Decision:
    return Decision(phase="request", allow=True, **fields)


def test_a_plain_allow_is_allowed_and_keeps_the_route_override():
    p = plan(decision(route="cheap"), Capabilities())
    assert (p.action, p.reasons, p.route) == ("allow", [], "cheap")


def test_a_deny_stays_a_deny_with_the_policys_reasons():
    d = Decision(phase="request", allow=False, reasons=["agent is blocked"], hold=HOLD)
    p = plan(d, Capabilities(approvals=True))
    assert (p.action, p.reasons, p.decision_id) == ("deny", ["agent is blocked"], d.decision_id)


def test_a_hold_without_an_approval_queue_denies_saying_so():
    p = plan(decision(reasons=["review"], hold=HOLD), Capabilities())
    assert p.action == "deny"
    assert p.reasons == ["review", "approval required (large transfer) but this gateway has no approval queue"]


def test_a_hold_with_an_approval_queue_is_a_hold():
    p = plan(decision(hold=HOLD), Capabilities(approvals=True))
    assert (p.action, p.hold) == ("hold", HOLD)
    assert not p.allowed


def test_a_redaction_the_gateway_cannot_do_denies_naming_the_types():
    p = plan(decision(redact=["EMAIL_ADDRESS", "US_SSN"]), Capabilities())
    assert p.action == "deny" and p.reasons == [
        "redaction of EMAIL_ADDRESS, US_SSN required but PII redaction is not enabled"
    ]
    p = plan(decision(redact=["EMAIL_ADDRESS", "US_SSN"]), Capabilities(redactable=frozenset({"EMAIL_ADDRESS"})))
    assert p.action == "deny" and p.reasons == ["redaction of US_SSN required but no recognizer finds them"]


def test_a_redaction_the_gateway_can_do_is_part_of_an_allow():
    p = plan(decision(redact=["EMAIL_ADDRESS"]), Capabilities(redactable=frozenset({"EMAIL_ADDRESS"})))
    assert (p.action, p.redact) == ("allow", ["EMAIL_ADDRESS"])


def test_every_part_that_cannot_be_carried_out_is_named():
    p = plan(decision(hold=HOLD, redact=["PERSON"]), Capabilities())
    assert p.action == "deny" and len(p.reasons) == 2
