"""`evaluate` (the decide stage's engine query) against engines that fail in every way: each failure is a
deny, counted and explained."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from gateway.errors import PolicyEngineError, PolicyUnavailable
from gateway.metrics import Metrics
from gateway.settings import PolicyConfig
from gateway.stages.decide import evaluate

INPUT = {"principal": {"agent": "a"}, "call": {"phase": "request"}, "pii": []}
GOOD = {"allow": True, "reasons": [], "hold": None, "redact": [], "route": None}


class FakeEngine:
    version = "v-test"

    def __init__(
        self, answer: Any = None, error: Exception | None = None, delay: float = 0.0, blocking: float = 0.0
    ) -> None:
        self.answer, self.error, self.delay, self.blocking = answer, error, delay, blocking

    async def evaluate(self, input_doc: dict[str, Any]) -> Any:
        await asyncio.sleep(self.delay)
        time.sleep(self.blocking)  # as an evaluation on the event loop's own thread does: nothing can cut it short
        if self.error:
            raise self.error
        return self.answer


async def run(engine: FakeEngine, **config: Any) -> tuple[Any, Metrics]:
    metrics = Metrics()
    decision = await evaluate(engine, INPUT, PolicyConfig(timeout_ms=100, **config), metrics)  # type: ignore[arg-type]
    return decision, metrics


async def test_a_well_formed_allow_allows():
    decision, _ = await run(FakeEngine(GOOD))
    assert decision.allow and decision.policy_version == "v-test" and decision.error is None


@pytest.mark.parametrize(
    ("engine", "code", "detail"),
    [
        (FakeEngine(None), "policy_error", "undefined"),
        (FakeEngine({"allow": True}), "policy_error", "malformed decision: reasons"),
        (FakeEngine({**GOOD, "allow": "yes"}), "policy_error", "malformed decision: allow"),
        (FakeEngine({**GOOD, "hold": {"why": "x"}}), "policy_error", "malformed decision: hold"),
        (FakeEngine([GOOD]), "policy_error", "malformed decision"),
        (FakeEngine(error=PolicyEngineError("boom")), "policy_error", "boom"),
        (FakeEngine(error=PolicyUnavailable("OPA down")), "policy_unavailable", "OPA down"),
        (FakeEngine(GOOD, delay=1.0), "policy_unavailable", "no decision within 100 ms"),
        (FakeEngine(GOOD, blocking=0.15), "policy_unavailable", "no decision within 100 ms"),
    ],
)
async def test_every_engine_failure_denies_with_a_reason_and_a_metric(engine, code, detail):
    decision, metrics = await run(engine)
    assert decision.allow is False and decision.error == code
    assert decision.reasons[0].startswith(f"{code}: ") and detail in decision.reasons[0]
    assert metrics.policy_failures.labels(code)._value.get() == 1


async def test_fail_open_only_when_configured_and_marked():
    decision, _ = await run(FakeEngine(error=PolicyUnavailable("OPA down")), fail_open=True)
    assert decision.allow is True and decision.fail_open is True and decision.error == "policy_unavailable"


async def test_hold_and_redact_are_the_policys_answer_not_yet_the_gateways_plan():
    """`evaluate` reports what the policy said; what the gateway can carry out is `enforcement.plan`'s job."""
    decision, _ = await run(FakeEngine({**GOOD, "hold": {"reason": "big", "approvers": "finance"}}))
    assert decision.allow and decision.hold is not None and decision.hold.approvers == "finance"
    decision, _ = await run(FakeEngine({**GOOD, "redact": ["EMAIL_ADDRESS"]}))
    assert decision.allow and decision.redact == ["EMAIL_ADDRESS"]
