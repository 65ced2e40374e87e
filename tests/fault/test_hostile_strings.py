"""Hostile strings against both engines: the embedded engine never allows what a real OPA denies.

rego-cpp ends strings at NUL, so `"alice\\u0000mallory"` compared as `"alice"` and slipped past a policy
that allows only alice; the embedded engine now refuses to evaluate an input holding NUL (a deny)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gateway.metrics import Metrics
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.opa import OpaEngine
from gateway.policy.source import load_source
from gateway.settings import PolicyConfig
from gateway.stages.decide import evaluate
from tests.test_policy_engines import running_opa

ONLY_ALICE = """package gateway

import rego.v1

default allow := false

allow if input.principal.end_user == "alice"

allow if startswith(input.principal.end_user, "trusted-")

decision := {"allow": allow, "reasons": [], "hold": null, "redact": [], "route": null}
"""

HOSTILE = [
    "alice",
    "alice\u0000mallory",
    "\u0000alice",
    "alice\u0000",
    "trusted-\u0000x",
    "mallory\u0000alice",
    "alice\u202e",
    "al\u200bice",
    "alice\r\nx-admin: 1",
    "ａｌｉｃｅ",  # fullwidth
    "alice" + "\u0301",
    "trusted-" + "x" * 10_000,
    "\ud7ff\ue000",
    "",
]


def _input(end_user: str) -> dict[str, Any]:
    return {"principal": {"agent": "a", "end_user": end_user}, "call": {"phase": "request"}}


@pytest.mark.opa
def test_the_embedded_engine_never_allows_what_opa_denies(tmp_path: Path) -> None:
    (tmp_path / "policy.rego").write_text(ONLY_ALICE)
    config = PolicyConfig(engine="opa", dir=tmp_path, timeout_ms=5000)

    async def run(url: str) -> list[tuple[str, bool, bool]]:
        source = load_source(tmp_path)
        embedded = EmbeddedEngine(source)
        opa = await OpaEngine.start(config.model_copy(update={"opa_url": url}), source)
        try:
            out = []
            for value in HOSTILE:
                ours = await evaluate(embedded, _input(value), config, Metrics())
                theirs = await evaluate(opa, _input(value), config, Metrics())
                out.append((value, ours.allow, theirs.allow))
            return out
        finally:
            await embedded.aclose()
            await opa.aclose()

    with running_opa() as server:
        results = asyncio.run(run(server.url))
    looser = [value for value, ours, theirs in results if ours and not theirs]
    assert not looser, f"the embedded engine allowed what OPA denied: {looser!r}"
    assert dict((v, o) for v, o, _ in results)["alice"] is True  # and it still allows what it should
    assert dict((v, o) for v, o, _ in results)["alice\u0000mallory"] is False
