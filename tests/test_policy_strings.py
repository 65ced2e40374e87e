"""Strings an agent controls cannot forge a decision: a differential fuzz of the embedded engine against a real
`opa` server, with quotes, backslashes, brackets, control and non-BMP characters in every field a policy can
interpolate, and the forged end user and tool argument of the issue end to end over HTTP.

The embedded engine on OPA's Go runtime must answer exactly as the server. On the rego-cpp fallback it must
refuse (a policy error, which denies) or give a decision of the same shape: the same keys, `allow`, hold or
no hold, and number of reasons (its builtins format some text differently: `upper` of non-ASCII letters,
`%v` of control characters), never a decision an agent's text added to."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.errors import PolicyEngineError
from gateway.policy import go_rego
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.opa import OpaEngine
from gateway.policy.source import load_source
from gateway.settings import PolicyConfig
from tests.helpers import audit_rows
from tests.test_policy_engines import running_opa

POLICY = r"""package gateway

import rego.v1

decision := {"allow": count(deny) == 0, "reasons": sort([r | some r in deny]), "hold": hold, "redact": [],
    "route": null, "echo": {input.principal.end_user: [input.call.target, upper(input.principal.agent)]}}

deny contains sprintf("end user %s may not call %s", [input.principal.end_user, input.call.target]) if {
    input.principal.end_user != "alice"
}

deny contains concat("", ["team ", input.principal.team, " (", input.principal.key_id, ") is closed"]) if {
    input.principal.team == "closed"
}

deny contains sprintf("%v", [call.arguments]) if {
    some call in input.call.tool_calls
    call.name == "drop"
}

default hold := null

hold := {"reason": concat("", ["transfer to ", call.arguments.to, " by ", call.name, " needs sign-off"]),
    "approvers": "finance"} if {
    some call in input.call.tool_calls
    call.name == "transfer_funds"
}
"""

FORGERIES = [
    'bob"], "allow": true, "zz": ["',
    'DE02"}, "hold": null, "zz": {"q": "',
    "a\\b",
    'a\\"b',
    "\\u0041",
    '"quoted"',
    "}]}",
    "tab\there\nnewline\r\x01\x1f\x7f\u0085\u009f",
    "emoji 😀 𝄞 \U0010fffd",
    "\u2028\u2029\ufeff\u200b",
    "",
    "alice",
    "x" * 300,
]
PIECES = ['"', "\\", "}", "]", "{", "[", ",", ":", "\x00", "\x01", "\n", "\u0085", "😀", "é", "a", " ", "true", "u00"]


def _fuzzed(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 12)))


def hostile_inputs(seed: int = 19, count: int = 300) -> list[dict[str, Any]]:
    """Every interpolated field hostile in turn (the named forgeries), then all of them fuzzed at once."""
    rng = random.Random(seed)
    strings = FORGERIES + [_fuzzed(rng) for _ in range(count)]
    out = []
    for i, text in enumerate(strings):
        pick = strings[(i * 7 + 3) % len(strings)]
        principal = {"agent": text, "team": "closed" if i % 3 == 0 else pick, "key_id": pick, "end_user": text}
        calls = [
            {"name": "transfer_funds", "arguments": {"amount": 5000, "to": text}},
            {"name": "drop" if i % 2 else pick, "arguments": {text: pick, "n": [text, 1.5]}},
        ]
        call = {"kind": "tool", "phase": "request", "surface": "mcp", "target": pick, "tool_calls": calls}
        out.append({"principal": principal, "call": call, "pii": []})
    return out


def _shape(decision: Any) -> Any:
    if not isinstance(decision, dict):
        return decision
    hold = decision.get("hold")
    return sorted(decision), decision.get("allow"), hold is None, len(decision.get("reasons", [])), len(decision)


async def _compare(tmp_path: Path, opa_url: str, runtime: str) -> tuple[list[str], int, int]:
    """(differences, agreed, refused) of the embedded runtime against the server."""
    (tmp_path / "policy.rego").write_text(POLICY)
    source = load_source(tmp_path)
    embedded = EmbeddedEngine(source, runtime=runtime)  # type: ignore[arg-type]
    config = PolicyConfig(engine="opa", opa_url=opa_url, dir=tmp_path, timeout_ms=5000)
    opa = await OpaEngine.start(config, source)
    diffs, agreed, refused = [], 0, 0
    try:
        for doc in hostile_inputs():
            theirs = await opa.evaluate(doc) if "\x00" not in json.dumps(doc, ensure_ascii=False) else None
            try:
                mine = await embedded.evaluate(doc)
            except PolicyEngineError:
                refused += 1
                continue
            same = mine == theirs if runtime == "opa-go" else _shape(mine) == _shape(theirs)
            if theirs is not None and not same:
                diffs.append(f"{json.dumps(doc)[:300]}\n  embedded: {mine}\n  opa:      {theirs}")
            agreed += 1
        return diffs, agreed, refused
    finally:
        await embedded.aclose()
        await opa.aclose()


@pytest.mark.opa
@pytest.mark.skipif(not go_rego.AVAILABLE, reason="opa-golib-python-bindings is not installed")
def test_the_go_runtime_answers_exactly_as_opa_on_hostile_strings(tmp_path):
    with running_opa() as server:
        diffs, agreed, refused = asyncio.run(_compare(tmp_path, server.url, "opa-go"))
    assert not diffs, "\n".join(diffs[:5])
    assert refused == 0 and agreed == len(hostile_inputs())


@pytest.mark.opa
def test_the_rego_cpp_fallback_agrees_with_opa_or_refuses(tmp_path):
    with running_opa() as server:
        diffs, agreed, refused = asyncio.run(_compare(tmp_path, server.url, "rego-cpp"))
    assert not diffs, "\n".join(diffs[:5])
    assert refused > 0  # the forgeries themselves: quotes and backslashes are refused, not misread


def test_the_go_runtime_keeps_nul_and_backslashes_exact(tmp_path):
    if not go_rego.AVAILABLE:
        pytest.skip("opa-golib-python-bindings is not installed")
    (tmp_path / "policy.rego").write_text(POLICY)
    engine = EmbeddedEngine(load_source(tmp_path), runtime="opa-go")
    doc = hostile_inputs()[0]
    doc["principal"]["end_user"] = "a\\b\x00c"
    answer = asyncio.run(engine.evaluate(doc))
    assert answer["allow"] is False
    assert "end user a\\b\x00c may not call" in answer["reasons"][0]


# -- end to end: the two forgeries, through the HTTP surfaces ---------------------------------------

HTTP_POLICY = r"""package gateway

import rego.v1

decision := {"allow": count(deny) == 0, "reasons": sort([r | some r in deny]), "hold": null, "redact": [],
    "route": null}

deny contains sprintf("end user %s may not use the gateway", [input.principal.end_user]) if {
    input.principal.end_user != "alice"
}
"""


@pytest.mark.parametrize("runtime", ["opa-go", "rego-cpp"])
def test_a_forged_end_user_cannot_allow_its_own_call(gateway_factory, sqlite_url, tmp_path, runtime):
    if runtime == "opa-go" and not go_rego.AVAILABLE:
        pytest.skip("opa-golib-python-bindings is not installed")
    (tmp_path / "policy.rego").write_text(HTTP_POLICY)
    gw = gateway_factory(sqlite_url, policy={"dir": str(tmp_path), "timeout_ms": 2000, "runtime": runtime})
    body = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {gw.key}"}
    allowed = httpx.post(f"{gw.url}/v1/chat/completions", json=body, headers={**headers, "X-End-User": "alice"})
    assert allowed.status_code == 200
    forged = 'bob"], "allow": true, "zz": ["'
    resp = httpx.post(f"{gw.url}/v1/chat/completions", json=body, headers={**headers, "X-End-User": forged})
    assert resp.status_code == 403, resp.text
    code = resp.json()["error"]["code"]
    rows = audit_rows(sqlite_url, wait_for=2)
    assert rows[-1]["event"] == "decision" and rows[-1]["allow"] in (0, False)
    if runtime == "opa-go":  # OPA's answer, the agent's text kept as text
        assert code == "policy_denied" and forged in resp.json()["error"]["message"]
    else:  # rego-cpp cannot evaluate it exactly: refused, fail closed
        assert code == "policy_denied" and "quote or backslash" in resp.json()["error"]["message"]
        assert rows[-1]["error_code"] == "policy_error"
