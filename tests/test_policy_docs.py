"""The policy documentation is true: docs/policy-input.md, its JSON Schemas and the worked examples.

- the input documents build_input produces validate against docs/policy-input.schema.json
- every ```json input / ```json decision block of docs/policy-input.md validates against its schema, and a
  block tagged with a worked example (```json input finance-approval) gives the documented decision
- every docs/examples/<name> passes its own tests with the embedded engine (and with `opa test` when an
  opa binary is found)
- the shipped default policy answers every documented input with a schema-valid decision
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from connectors.base import ChatRequest, EmbeddingRequest, Message, ToolCall, ToolSpec
from gateway.model import (
    AgentPayload,
    Call,
    Decision,
    EmbeddingsPayload,
    ListPayload,
    ModelPayload,
    Principal,
    ReadPayload,
    ToolPayload,
)
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.input import build_input, request_tool_calls
from gateway.policy.source import load_source
from gateway.policy.testing import run_tests
from tests.conftest import opa_binary
from tests.helpers import documented_blocks

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
REFERENCE = DOCS / "policy-input.md"
EXAMPLE_NAMES = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()) if EXAMPLES.is_dir() else []


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((DOCS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


INPUT = _validator("policy-input.schema.json")
DECISION = _validator("policy-decision.schema.json")


def _errors(validator: jsonschema.Draft202012Validator, doc: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(doc)]


def _blocks() -> list[tuple[str, str | None, Any, int]]:
    return documented_blocks(REFERENCE)


def _evaluate(root: Path, doc: dict[str, Any]) -> Any:
    async def run() -> Any:
        engine = EmbeddedEngine(load_source(root))
        try:
            return await engine.evaluate(doc)
        finally:
            await engine.aclose()

    return asyncio.run(run())


def _call() -> Call:
    principal = Principal(
        agent="support-bot", team="cs", key_id="3f2a9c1d0b7e4a55", labels={"env": "prod"}, end_user="user-4711"
    )
    request = ChatRequest(
        model="gpt-4o-mini",
        messages=[
            Message(role="system", content="You are helpful."),
            Message(role="user", content="Where is order A-1001?"),
            Message(
                role="assistant",
                tool_calls=[
                    ToolCall(id="call_1", name="get_order_status", arguments='{"order": "A-1001"}'),
                    ToolCall(id="call_2", name="ping", arguments=""),
                ],
            ),
            Message(role="tool", tool_call_id="call_1", content='{"status": "shipped"}'),
            Message(role="tool", tool_call_id="call_2", content="pong"),
        ],
        tools=[ToolSpec(name="get_order_status"), ToolSpec(name="ping")],
        max_tokens=512,
    )
    return Call(
        surface="openai",
        principal=principal,
        payload=ModelPayload(request=request),
        request_id="7c0d8e5b2a3f4e1d9c6b5a4f3e2d1c0b",
    )


# (a) what build_input produces


def test_request_phase_input_validates() -> None:
    call = _call()
    doc = build_input(call, "request", ["gpt-4o-mini", "echo"], request_tool_calls(call))
    assert _errors(INPUT, doc) == []
    assert doc["call"]["tool_calls"] == [
        {"id": "call_1", "name": "get_order_status", "arguments": {"order": "A-1001"}},
        {"id": "call_2", "name": "ping", "arguments": {}},  # empty arguments text is {}
    ]
    assert "upstream" not in doc["call"]


def test_response_phase_input_with_non_json_arguments_validates() -> None:
    call = _call()
    call.payload.request.stream = True
    calls = [
        ToolCall(id="call_3", name="transfer_funds", arguments='{"amount": 5000, "to": "DE02"}'),
        ToolCall(id="call_4", name="transfer_funds", arguments='{"amount": 5000, "to"'),
        ToolCall(id="call_5", name="noop", arguments="[1, 2]"),
    ]
    doc = build_input(call, "response", ["gpt-4o-mini"], calls, {"provider": "local", "model": "gpt-4o-mini"})
    assert _errors(INPUT, doc) == []
    assert [c["arguments"] for c in doc["call"]["tool_calls"]] == [
        {"amount": 5000, "to": "DE02"},
        '{"amount": 5000, "to"',
        [1, 2],
    ]
    assert doc["call"]["upstream"] == {"provider": "local", "model": "gpt-4o-mini"}


def test_listing_probe_input_validates() -> None:
    """GET /v1/models asks with no messages, tools or tool calls, and a principal without team or labels."""
    probe = Call(
        surface="anthropic",
        principal=Principal(agent="demo", key_id="k"),
        payload=ModelPayload(request=ChatRequest(model="echo", messages=[])),
        request_id="r",
    )
    doc = build_input(probe, "request", ["echo"], [])
    assert _errors(INPUT, doc) == []


def _of_kind(payload: Any, surface: str) -> Call:
    return Call(surface=surface, principal=Principal(agent="a", key_id="k"), payload=payload, request_id="r")


def test_embeddings_input_validates_and_says_its_kind() -> None:
    call = _of_kind(EmbeddingsPayload(request=EmbeddingRequest(model="embed", inputs=["a", "b"])), "openai")
    doc = build_input(call, "request", ["embed"], request_tool_calls(call))
    assert _errors(INPUT, doc) == []
    assert {k: doc["call"][k] for k in ("kind", "operation", "target", "tool_calls", "input_count")} == {
        "kind": "embeddings",
        "operation": "embeddings",
        "target": "embed",
        "tool_calls": [],
        "input_count": 2,
    }


def test_tool_call_input_holds_the_one_call() -> None:
    tool = ToolPayload(server="bank", call=ToolCall(id="7", name="transfer_funds", arguments='{"amount": 5000}'))
    call = _of_kind(tool, "mcp")
    doc = build_input(call, "request", [], request_tool_calls(call))
    assert _errors(INPUT, doc) == []
    assert {k: doc["call"][k] for k in ("kind", "operation", "target", "server", "tool_calls")} == {
        "kind": "tool",
        "operation": "tools/call",
        "target": "transfer_funds",
        "server": "bank",
        "tool_calls": [{"id": "7", "name": "transfer_funds", "arguments": {"amount": 5000}}],
    }


def test_agent_call_input_names_the_agent() -> None:
    call = _of_kind(AgentPayload(agent="planner", text="plan my week"), "a2a")
    doc = build_input(call, "request", [], request_tool_calls(call))
    assert _errors(INPUT, doc) == []
    assert (doc["call"]["kind"], doc["call"]["operation"], doc["call"]["target"]) == (
        "agent",
        "message/send",
        "planner",
    )


def _every_kind() -> list[Call]:
    return [
        _call(),
        _of_kind(EmbeddingsPayload(request=EmbeddingRequest(model="embed", inputs=["a"])), "openai"),
        _of_kind(ToolPayload(server="bank", call=ToolCall(id="1", name="t")), "mcp"),
        _of_kind(AgentPayload(agent="planner"), "a2a"),
        _of_kind(ListPayload(operation="tools/list", scope="bank"), "mcp"),
        _of_kind(ReadPayload(operation="responses.get", name="resp_1"), "openai"),
    ]


def test_reads_and_listings_are_calls_the_default_policy_allows() -> None:
    """No side door: a listing and a read are decided like any call; the shipped policy lets an agent do them."""
    for call in _every_kind()[-2:]:
        doc = build_input(call, "request", [], [], redactable=frozenset({"EMAIL_ADDRESS"}))
        assert _errors(INPUT, doc) == []
        decision = _evaluate(ROOT / "policies", doc)
        assert decision["allow"] is True and decision["redact_output"] == [], decision


def test_schema_tracks_every_field_build_input_produces() -> None:
    """The schema names exactly the fields build_input produces for every kind, and requires those they share."""
    upstream = {"provider": "echo", "model": "echo"}
    docs = [build_input(call, "response", ["echo"], [], upstream) for call in _every_kind()]
    schema = INPUT.schema
    assert all(set(schema["required"]) == set(doc) for doc in docs)
    assert set(schema["properties"]["principal"]["required"]) == set(docs[0]["principal"])
    call_props = set(schema["properties"]["call"]["properties"])
    assert call_props == set().union(*(doc["call"] for doc in docs))
    shared = set.intersection(*(set(doc["call"]) for doc in docs))
    assert set(schema["properties"]["call"]["required"]) == shared - {"upstream"}
    assert all(_errors(INPUT, doc) == [] for doc in docs)


def test_schema_rejects_upstream_on_request_and_requires_it_on_response() -> None:
    call = _call()
    request = build_input(call, "request", ["echo"], [])
    response = build_input(call, "response", ["echo"], [], {"provider": "echo", "model": "echo"})
    assert _errors(INPUT, {**request, "call": {**request["call"], "upstream": {"provider": "p", "model": "m"}}})
    without = {k: v for k, v in response["call"].items() if k != "upstream"}
    assert _errors(INPUT, {**response, "call": without})
    assert _errors(INPUT, {**request, "call": {**request["call"], "kind": "function"}})


def test_decision_schema_agrees_with_the_gateway() -> None:
    """What the schema accepts the gateway enforces; what it rejects the gateway denies as policy_error."""
    ok: dict[str, Any] = {"allow": True, "reasons": [], "hold": None, "redact": [], "route": None}
    accepted: list[Any] = [
        ok,
        {**ok, "hold": {"reason": "r", "approvers": "finance"}},
        {**ok, "hold": {"reason": "r"}},
        {**ok, "route": "echo", "extra": 1},
    ]
    rejected: list[Any] = [
        {k: v for k, v in ok.items() if k != "route"},
        {**ok, "allow": 1},
        {**ok, "allow": "true"},
        {**ok, "reasons": ["a", 1]},
        {**ok, "hold": {"reason": "r", "extra": 1}},
        {**ok, "route": 5},
        [ok],
    ]
    for doc in accepted:
        assert _errors(DECISION, doc) == [], doc
        assert Decision.from_document(doc, phase="request", policy_version="v").error is None, doc
    for doc in rejected:
        assert _errors(DECISION, doc), doc
        assert Decision.from_document(doc, phase="request", policy_version="v").error == "policy_error", doc


# (b) the documented examples


def test_reference_has_input_and_decision_examples() -> None:
    kinds = [kind for kind, _, _, _ in _blocks()]
    assert "input" in kinds and "decision" in kinds


@pytest.mark.parametrize("kind,example,doc,line", _blocks(), ids=lambda v: None)
def test_documented_block_validates(kind: str, example: str | None, doc: Any, line: int) -> None:
    errors = _errors(INPUT if kind == "input" else DECISION, doc)
    assert errors == [], f"{REFERENCE.name}:{line}: {errors}"


def _pairs(example: str) -> list[tuple[Any, Any, int]]:
    blocks = [(kind, doc, line) for kind, name, doc, line in _blocks() if name == example]
    inputs = [(doc, line) for kind, doc, line in blocks if kind == "input"]
    decisions = [doc for kind, doc, _ in blocks if kind == "decision"]
    assert len(inputs) == len(decisions), f"{example}: every tagged input needs a tagged decision"
    return [(doc, decision, line) for (doc, line), decision in zip(inputs, decisions, strict=True)]


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_worked_example_gives_the_documented_decision(name: str) -> None:
    pairs = _pairs(name)
    assert pairs, f"{REFERENCE.name} shows no ```json input {name} block"
    for doc, expected, line in pairs:
        assert _evaluate(EXAMPLES / name, doc) == expected, f"{REFERENCE.name}:{line}"


# (c) the worked examples pass their own tests


def test_there_are_worked_examples() -> None:
    assert EXAMPLE_NAMES == [
        "allow-lists",
        "budgets",
        "finance-approval",
        "pii-stays-internal",
        "session-pii-external",
    ]


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_worked_example_tests_pass_on_the_embedded_engine(name: str) -> None:
    source = load_source(EXAMPLES / name)
    results = run_tests(source)
    assert results, f"{name}: no tests found"
    failed = [f"{r.name}: {r.detail}" for r in results if not r.passed]
    assert failed == []


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_worked_example_policy_is_complete(name: str) -> None:
    """Every example ships policy.rego in package gateway, and answers a bare input with a valid decision."""
    root = EXAMPLES / name
    assert re.search(r"^package gateway$", (root / "policy.rego").read_text(), re.M)
    assert (root / "policy_test.rego").is_file()
    raw = _evaluate(root, {"principal": {"agent": ""}, "call": {}, "pii": [], "routes": []})
    assert _errors(DECISION, raw) == []


@pytest.mark.opa
@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_worked_example_tests_pass_on_opa(name: str) -> None:
    opa = opa_binary()
    done = subprocess.run([opa, "test", str(EXAMPLES / name)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    for doc, expected, line in _pairs(name):
        out = subprocess.run(
            [opa, "eval", "--format", "raw", "--stdin-input", "--data", str(EXAMPLES / name), "data.gateway.decision"],
            input=json.dumps(doc),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == expected, f"{REFERENCE.name}:{line}"


# (d) the shipped default policy on the documented inputs


def test_default_policy_decides_every_documented_input() -> None:
    inputs = [(doc, line) for kind, _, doc, line in _blocks() if kind == "input"]
    assert inputs
    for doc, line in inputs:
        raw = _evaluate(ROOT / "policies", doc)
        assert _errors(DECISION, raw) == [], f"{REFERENCE.name}:{line}"
        assert Decision.from_document(raw, phase=doc["call"]["phase"], policy_version="v").error is None
