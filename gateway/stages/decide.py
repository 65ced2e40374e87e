"""Stage 3 (and 8): ask the policy engine; every failure becomes a deny (fail closed).

The only way an engine failure allows a call is `policy.fail_open: true` in the config, and then the
decision is marked `fail_open` in the audit log.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from gateway.errors import PolicyEngineError, PolicyUnavailable
from gateway.metrics import Metrics
from gateway.model import Decision, Phase
from gateway.policy.engine import PolicyEngine
from gateway.settings import PolicyConfig


async def _ask(engine: PolicyEngine, input_doc: dict[str, Any], config: PolicyConfig, phase: Phase) -> Decision:
    version = engine.version
    try:
        async with asyncio.timeout(config.timeout_ms / 1000):
            raw = await engine.evaluate(input_doc)
    except TimeoutError:
        return Decision.failed(phase, "policy_unavailable", f"no decision within {config.timeout_ms:g} ms", version)
    except PolicyUnavailable as exc:
        return Decision.failed(phase, "policy_unavailable", exc.message, version)
    except PolicyEngineError as exc:
        return Decision.failed(phase, "policy_error", exc.message, version)
    return Decision.from_document(raw, phase=phase, policy_version=version)


def _enforceable(decision: Decision) -> Decision:
    """Deny what this gateway cannot carry out rather than forward the call without it."""
    if decision.allow and decision.hold is not None:
        reason = f"approval required ({decision.hold.reason}) but this gateway has no approval queue"
        return decision.model_copy(update={"allow": False, "reasons": [*decision.reasons, reason]})
    if decision.allow and decision.redact:
        reason = f"redaction of {', '.join(decision.redact)} required but PII redaction is not enabled"
        return decision.model_copy(update={"allow": False, "reasons": [*decision.reasons, reason]})
    return decision


async def decide(engine: PolicyEngine, input_doc: dict[str, Any], config: PolicyConfig, metrics: Metrics) -> Decision:
    phase: Phase = input_doc["call"]["phase"]
    started = time.perf_counter()
    decision = await _ask(engine, input_doc, config, phase)
    if decision.error and config.fail_open:
        decision = decision.model_copy(update={"allow": True, "fail_open": True})
    decision = _enforceable(decision)
    decision.latency_ms = round((time.perf_counter() - started) * 1000, 3)
    metrics.decision(phase, decision.allow, decision.error, decision.latency_ms / 1000)
    return decision
