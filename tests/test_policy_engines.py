"""Both engines against real processes: a real `opa run --server` and the embedded regopy engine."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway.errors import ConfigError, PolicyEngineError
from gateway.metrics import Metrics
from gateway.policy.cpp_rego import CppProgram
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.opa import OpaEngine
from gateway.policy.source import load_source
from gateway.settings import PolicyConfig
from gateway.stages.decide import evaluate
from tests.conftest import POLICIES, ROOT, opa_binary
from tests.helpers import audit_rows, documented_blocks, track
from tests.processes import free_port, wait_healthy


class OpaServer:
    """A real `opa run --server` process, stopped by its own handle."""

    def __init__(self, url: str, proc: subprocess.Popen[bytes]) -> None:
        self.url, self.proc = url, proc

    def stop(self) -> None:
        """Stop the server and wait until it is gone (its port then refuses connections)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@contextlib.contextmanager
def running_opa(*paths: str) -> Iterator[OpaServer]:
    """A real `opa run --server` on a free loopback port (loading `paths`, if any)."""
    port = free_port()
    command = [opa_binary(), "run", "--server", "--addr", f"127.0.0.1:{port}", "--log-level", "error", *paths]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = OpaServer(f"http://127.0.0.1:{port}", proc)
    try:
        wait_healthy(f"{server.url}/health", proc)
        yield server
    finally:
        server.stop()


@pytest.fixture
def opa_server() -> Iterator[OpaServer]:
    with running_opa() as server:
        yield server


OPERATIONS = {"model": "chat", "embeddings": "embeddings", "tool": "tools/call", "agent": "message/send"}


def generated_inputs() -> list[dict[str, Any]]:
    """Inputs that make every rule of the shipped policy and of the docs' examples both fire and not fire:
    agents known, blocked, empty and missing; routed, unrouted and "external" models; model and tool calls
    (and embeddings and agent calls)
    on both phases; harmless, risky and finance tool calls below, between and above the examples'
    thresholds, with arguments that are not JSON; no PII and some PII."""
    agents: list[Any] = ["support-bot", "billing-bot", "", "blocked-bot", None]
    targets = ["echo", "gpt-4o", "gpt-9"]
    calls: list[list[dict[str, Any]]] = [
        [],
        [{"name": "transfer_funds", "arguments": {"amount": 5000}}],
        [{"name": "transfer_funds", "arguments": {"amount": 50}}, {"name": "search_kb", "arguments": {}}],
        [{"name": "send_wire", "arguments": {"amount": 50000}}],
        [{"name": "pay_invoice", "arguments": "not json"}],
        [{"name": "get_weather", "arguments": {}}, {"name": "execute_shell", "arguments": {"cmd": "ls"}}],
    ]
    pii = [[], [{"type": "EMAIL_ADDRESS", "count": 1, "max_score": 1.0}]]
    phases_pii = (["request", "response"], pii)
    out = []
    for agent, target, kind, phase, tool_calls, found in itertools.product(
        agents, targets, ["model", "tool"], ["request", "response"], calls, pii
    ):
        principal = {"team": "cs", "key_id": "k1", **({"agent": agent} if agent is not None else {})}
        call = {
            "kind": kind,
            "operation": OPERATIONS[kind],
            "phase": phase,
            "surface": "openai",
            "target": target,
            "tool_calls": tool_calls,
            "tools": [c["name"] for c in tool_calls],
            "stream": False,
        }
        out.append({"principal": principal, "pii": found, "routes": ["echo", "gpt-4o"], "call": call})
    for agent, target, kind, phase, found in itertools.product(agents, targets, ["embeddings", "agent"], *phases_pii):
        principal = {"team": "cs", "key_id": "k1", **({"agent": agent} if agent is not None else {})}
        call = {"kind": kind, "operation": OPERATIONS[kind], "phase": phase, "target": target, "tool_calls": []}
        out.append({"principal": principal, "pii": found, "routes": ["echo", "gpt-4o"], "call": call})
    return out + session_inputs() + usage_inputs()


def usage_inputs() -> list[dict[str, Any]]:
    """Model calls under a money limit with budget left and running low, cheap and dear, to a model that has a
    cheaper one and one that has not: the budgets example's hold and route fire and do not."""
    out = []
    for target, spend, remaining, phase in itertools.product(
        ["gpt-4o", "claude"], [0.01, 2.0, None], [400.0, 3.0], ["request", "response"]
    ):
        money = {"per": "month", "max": 500.0, "used": 500.0 - remaining, "reserved": 0.0, "remaining": remaining}
        usage = {
            "call": {"input_tokens": 100, "max_output_tokens": 1000, "max_spend_usd": spend},
            "limits": [{"name": "team=cs", "subject": "team=cs", "match": {"team": "cs"}, "spend_usd": money}],
        }
        call = {"kind": "model", "operation": "chat", "phase": phase, "target": target, "tool_calls": []}
        principal = {"team": "cs", "key_id": "k1", "agent": "research-bot"}
        out.append({"principal": principal, "pii": [], "routes": ["gpt-4o"], "call": call, "usage": usage})
    return out


def session_inputs() -> list[dict[str, Any]]:
    """Tool calls to external and internal tools in sessions that saw no PII, PII in a request, and PII in tool
    results (one type or two): the session-memory example's rule fires and does not."""
    seen = [
        [],
        [{"type": "EMAIL_ADDRESS", "source": "request", "count": 1}],
        [{"type": "EMAIL_ADDRESS", "source": "tool_result", "count": 2}],
        [{"type": "PHONE_NUMBER", "source": "tool_result", "count": 1}, {"type": "US_SSN", "source": "tool_result"}],
    ]
    sessions: list[Any] = [None, *({"named_by": "header", "new": False, "calls": 3, "pii": p} for p in seen)]
    out = []
    for agent, target, phase, session in itertools.product(
        ["support-bot", ""], ["send_email", "post_webhook", "lookup_customer"], ["request", "response"], sessions
    ):
        call = {"kind": "tool", "operation": "tools/call", "phase": phase, "target": target, "tool_calls": []}
        principal = {"team": "cs", "key_id": "k1", "agent": agent}
        out.append({"principal": principal, "pii": [], "routes": [], "call": call, "session": session})
    return out


def policy_dirs(tmp_path: Path) -> list[Path]:
    """The shipped policies, a variant whose data blocks an agent, and the docs' worked examples."""
    blocked = tmp_path / "blocked"
    shutil.copytree(POLICIES, blocked)
    data = json.loads((blocked / "gateway/data.json").read_text())
    (blocked / "gateway/data.json").write_text(json.dumps({**data, "blocked_agents": ["blocked-bot"]}))
    examples = sorted(p for p in (ROOT / "docs/examples").glob("*") if p.is_dir())
    return [POLICIES, blocked, *examples]


async def _differences(policy_dir: Path, opa_url: str, inputs: list[dict[str, Any]]) -> tuple[list[str], set[str]]:
    """Inputs on which the engines disagree, and the distinct decisions seen."""
    source = load_source(policy_dir)
    embedded = EmbeddedEngine(source)
    opa = await OpaEngine.start(PolicyConfig(engine="opa", opa_url=opa_url, dir=policy_dir, timeout_ms=5000), source)
    try:
        diffs, decisions = [], set()
        for doc in inputs:
            mine, theirs = await embedded.evaluate(doc), await opa.evaluate(doc)
            decisions.add(json.dumps(theirs, sort_keys=True))
            if mine != theirs:
                diffs.append(f"{policy_dir.name}: {json.dumps(doc)}\n  embedded: {mine}\n  opa:      {theirs}")
        return diffs, decisions
    finally:
        await embedded.aclose()
        await opa.aclose()


def documented_inputs() -> list[dict[str, Any]]:
    """The input documents of docs/policy-input.md."""
    return [doc for kind, _, doc, _ in documented_blocks(ROOT / "docs/policy-input.md") if kind == "input"]


@pytest.mark.opa
def test_both_engines_give_the_same_decision(opa_server, tmp_path):
    inputs = generated_inputs() + documented_inputs()
    assert len(inputs) > len(generated_inputs())
    for policy_dir in policy_dirs(tmp_path):
        # one server for all dirs: each push replaces the previous version's modules (as a hot reload does)
        diffs, decisions = asyncio.run(_differences(policy_dir, opa_server.url, inputs))
        assert not diffs, "\n".join(diffs[:5])
        assert len(decisions) >= 4, f"{policy_dir.name}: the inputs hardly exercise this policy"


def test_default_policy_decisions_cover_every_rule(tmp_path):
    source = load_source(policy_dirs(tmp_path)[1])
    engine = EmbeddedEngine(source)
    reasons = {r for doc in generated_inputs() for r in engine.evaluate_sync(engine._compiled, doc)["reasons"]}
    assert {
        "caller has no agent identity",
        "agent 'blocked-bot' is blocked",
        "model 'gpt-9' is not a configured route",
        "tool 'transfer_funds' is on the risky tools list",
        "tool 'execute_shell' is on the risky tools list",
    } <= reasons


@pytest.mark.opa
def test_gateway_on_the_opa_engine(gateway_factory, sqlite_url, opa_server):
    gw = gateway_factory(sqlite_url, policy={"engine": "opa", "opa_url": opa_server.url, "dir": str(POLICIES)})
    client = track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0))
    assert client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}]).choices
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert info.value.body["reasons"] == ["model 'nope' is not a configured route"]
    assert httpx.get(f"{gw.url}/readyz").json()["checks"]["policy"] is True


@pytest.mark.opa
def test_opa_down_fails_closed_audited_counted_and_unready(gateway_factory, sqlite_url, opa_server):
    gw = gateway_factory(
        sqlite_url, policy={"engine": "opa", "opa_url": opa_server.url, "dir": str(POLICIES), "timeout_ms": 500}
    )
    # stop the OPA server under the running gateway
    opa_server.stop()
    client = track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0))
    with pytest.raises(openai.InternalServerError) as info:  # 503: no verdict, a capacity problem
        client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 503 and info.value.body["code"] == "policy_unavailable"
    assert info.value.response.headers["retry-after"] == "1"
    assert info.value.body["reasons"][0].startswith("policy_unavailable: ")
    rows = audit_rows(sqlite_url, wait_for=1)
    assert rows[-1]["allow"] is False and rows[-1]["error_code"] == "policy_unavailable"
    ready = httpx.get(f"{gw.url}/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["policy"] is False
    metrics = httpx.get(f"{gw.url}/metrics").text
    assert 'gateway_policy_failures_total{reason="policy_unavailable"} 1.0' in metrics


@pytest.mark.opa
def test_a_restarted_opa_gets_the_policies_again(gateway_factory, sqlite_url):
    """OPA comes back empty after a restart: the gateway notices and pushes again; /readyz is honest."""
    port = free_port()
    command = [opa_binary(), "run", "--server", "--addr", f"127.0.0.1:{port}", "--log-level", "error"]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    second: subprocess.Popen[bytes] | None = None
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", first)
        gw = gateway_factory(
            sqlite_url,
            policy={"engine": "opa", "opa_url": f"http://127.0.0.1:{port}", "dir": str(POLICIES), "timeout_ms": 2000},
        )
        client = track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0))
        ask = lambda: client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])  # noqa: E731
        assert ask().choices[0].message.content == "echo: hi"
        first.kill()
        first.wait(timeout=10)
        second = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_healthy(f"http://127.0.0.1:{port}/health", second)
        assert ask().choices[0].message.content == "echo: hi"  # an undefined answer makes it check at once
        assert httpx.get(f"{gw.url}/readyz").json()["checks"]["policy"] is True
        modules = httpx.get(f"http://127.0.0.1:{port}/v1/policies").json()["result"]
        assert any(m["id"].startswith("gateway/") for m in modules)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)


def _tool_input(name: str) -> dict[str, Any]:
    call = {"kind": "tool", "phase": "request", "surface": "mcp", "target": name, "tool_calls": [{"name": name}]}
    return {"principal": {"agent": "support-bot", "team": "cs", "key_id": "k1"}, "call": call, "pii": []}


@pytest.mark.opa
def test_opa_losing_the_gateways_data_is_noticed_at_the_next_decision_and_pushed_again(opa_server):
    """`DELETE /v1/data/gateway` leaves the modules and empties `risky_tools`: the next decision sees the
    revision marks gone, pushes again and decides on the whole data, never on what was left."""
    config = PolicyConfig(engine="opa", opa_url=opa_server.url, dir=POLICIES, timeout_ms=5000)

    async def scenario() -> list[Any]:
        engine = await OpaEngine.start(config, load_source(POLICIES))
        try:
            before = await engine.evaluate(_tool_input("transfer_funds"))
            async with httpx.AsyncClient() as http:
                assert (await http.delete(f"{opa_server.url}/v1/data/gateway")).status_code == 204
                emptied = (await http.get(f"{opa_server.url}/v1/data/gateway/risky_tools")).json()
                after = await engine.evaluate(_tool_input("transfer_funds"))
                restored = (await http.get(f"{opa_server.url}/v1/data/gateway/risky_tools")).json()
            return [before, emptied, after, restored, await engine.ready()]
        finally:
            await engine.aclose()

    before, emptied, after, restored, ready = asyncio.run(scenario())
    assert "result" not in emptied  # the data really was gone
    assert before == after and after["allow"] is False
    assert after["reasons"] == ["tool 'transfer_funds' is on the risky tools list"]
    assert "transfer_funds" in restored["result"] and ready is True


@pytest.mark.opa
def test_opa_holding_the_default_policy_without_its_data_denies_everything(tmp_path):
    """A server started from the modules alone (push disabled): the default policy requires its own data."""
    with running_opa(str(POLICIES / "gateway/decision.rego")) as server:
        config = PolicyConfig(engine="opa", opa_url=server.url, dir=POLICIES, timeout_ms=5000, push=False)

        async def ask() -> Any:
            engine = await OpaEngine.start(config, load_source(POLICIES))
            try:
                return await engine.evaluate(_tool_input("transfer_funds"))
            finally:
                await engine.aclose()

        decision = asyncio.run(ask())
    assert decision["allow"] is False
    assert "the policy's data (data.gateway in data.json) is not loaded" in decision["reasons"]


def test_policy_hot_reload_swaps_good_versions_and_keeps_serving_on_bad_ones(
    gateway_factory, sqlite_url, tmp_path, caplog
):
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    gw = gateway_factory(sqlite_url, policy={"dir": str(policies)})
    client = track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0))

    def ask() -> str:
        try:
            client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
            return "allowed"
        except openai.PermissionDeniedError:
            return "denied"

    def wait_for(expected: str) -> None:
        deadline = time.monotonic() + 10
        while ask() != expected:
            assert time.monotonic() < deadline, f"policy change not picked up (want {expected})"
            time.sleep(0.2)

    assert ask() == "allowed"
    first_version = audit_rows(sqlite_url, wait_for=1)[-1]["policy_version"]
    data = policies / "gateway/data.json"
    data.write_text(json.dumps({**json.loads(data.read_text()), "blocked_agents": ["support-bot"]}))
    wait_for("denied")
    (policies / "gateway/broken.rego").write_text("package gateway\nthis is not rego\n")
    deadline = time.monotonic() + 10
    while "broken.rego" not in caplog.text:  # the watcher saw the broken version and refused it
        assert time.monotonic() < deadline, "the broken policy was never looked at"
        time.sleep(0.1)
    assert ask() == "denied"  # the broken version was refused; the last good one keeps serving
    assert "policy change rejected" in caplog.text and "broken.rego" in caplog.text
    (policies / "gateway/broken.rego").unlink()
    data.write_text(json.dumps({**json.loads(data.read_text()), "blocked_agents": []}))
    wait_for("allowed")
    versions = {r["policy_version"] for r in audit_rows(sqlite_url)}
    assert first_version in versions and len(versions) >= 2


@pytest.mark.opa
@pytest.mark.parametrize(
    ("rego", "code"),
    [
        ('decision := {"allow": true}', "policy_error"),  # missing keys
        ('decision := {"allow": "yes", "reasons": [], "hold": null, "redact": [], "route": null}', "policy_error"),
        ("decision := 1\ndecision := 2", "policy_error"),  # OPA answers with an evaluation error
        ("other := 1", "policy_error"),  # undefined
    ],
)
def test_real_opa_answers_that_are_not_a_decision_deny(opa_server, tmp_path, rego, code):
    (tmp_path / "p.rego").write_text(f"package gateway\n\nimport rego.v1\n\n{rego}\n")
    source = load_source(tmp_path)

    async def ask() -> Any:
        config = PolicyConfig(engine="opa", opa_url=opa_server.url, dir=tmp_path, timeout_ms=5000)
        engine = await OpaEngine.start(config, source)
        try:
            return await evaluate(engine, generated_inputs()[0], config, Metrics())
        finally:
            await engine.aclose()

    decision = asyncio.run(ask())
    assert decision.allow is False and decision.error == code and decision.reasons[0].startswith(f"{code}: ")


@pytest.mark.opa
def test_opa_loading_its_own_bundle_with_push_disabled(gateway_factory, sqlite_url):
    with running_opa(str(POLICIES)) as opa:
        gw = gateway_factory(
            sqlite_url, policy={"engine": "opa", "opa_url": opa.url, "dir": str(POLICIES), "push": False}
        )
        client = track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0))
        assert client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}]).choices
        assert audit_rows(sqlite_url, wait_for=2)[-1]["policy_version"] == "opa-bundle"


@pytest.mark.opa
def test_opa_push_of_a_refused_version_keeps_the_previous_one_whole(opa_server, tmp_path):
    good = tmp_path / "good"
    shutil.copytree(POLICIES, good)
    bad = tmp_path / "bad"
    shutil.copytree(POLICIES, bad)
    data = json.loads((bad / "gateway/data.json").read_text())
    (bad / "gateway/data.json").write_text(json.dumps({**data, "blocked_agents": ["support-bot"]}))
    (bad / "gateway/aa_extra.rego").write_text("package gateway\n\nimport rego.v1\n\nextra := 1\n")  # pushed first
    (bad / "gateway/zz_broken.rego").write_text("package gateway\n\nthis is not rego\n")  # refused last
    doc = generated_inputs()[0]

    async def run() -> tuple[Any, Any, str]:
        config = PolicyConfig(engine="opa", opa_url=opa_server.url, dir=good, timeout_ms=5000)
        engine = await OpaEngine.start(config, load_source(good))
        try:
            before = await engine.evaluate(doc)
            with pytest.raises(ConfigError, match="OPA refused"):
                await engine.push(load_source(bad))
            policies = await engine.client.get_policies_list()
            return before, await engine.evaluate(doc), json.dumps(policies)
        finally:
            await engine.aclose()

    before, after, policies = asyncio.run(run())
    assert before == after and before["allow"] is True  # the blocked-agent data was put back too
    assert "aa_extra.rego" not in policies  # the refused version's new module was taken out again


@pytest.mark.opa
def test_real_opa_slower_than_the_budget_denies(opa_server, tmp_path):
    slow = "slow if count([x | some x in numbers.range(1, 3000000); x % 7 == 0]) > 0"
    (tmp_path / "p.rego").write_text(
        "package gateway\n\nimport rego.v1\n\n" + slow + "\n\n"
        'decision := {"allow": slow, "reasons": [], "hold": null, "redact": [], "route": null}\n'
    )
    source = load_source(tmp_path)

    async def ask() -> Any:
        config = PolicyConfig(engine="opa", opa_url=opa_server.url, dir=tmp_path, timeout_ms=20)
        engine = await OpaEngine.start(config.model_copy(update={"timeout_ms": 5000}), source)
        try:
            return await evaluate(engine, generated_inputs()[0], config, Metrics())
        finally:
            await engine.aclose()

    decision = asyncio.run(ask())
    assert decision.allow is False and decision.error == "policy_unavailable"


@pytest.mark.opa
def test_fail_open_is_only_what_the_operator_wrote_and_is_audited(gateway_factory, sqlite_url, opa_server):
    policy = {"engine": "opa", "opa_url": opa_server.url, "dir": str(POLICIES), "fail_open": True, "timeout_ms": 500}
    gw = gateway_factory(sqlite_url, policy=policy)
    opa_server.stop()
    client = track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0))
    assert client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}]).choices
    rows = audit_rows(sqlite_url, wait_for=2)
    assert all(r["allow"] and r["fail_open"] and r["error_code"] == "policy_unavailable" for r in rows)


SLOW_POLICY = """package gateway
import rego.v1

decision := {"allow": count([x | some x in numbers.range(1, 300000)]) > 0, "reasons": [], "hold": null,
    "redact": [], "route": null}
"""


async def test_embedded_engine_decides_quick_policies_on_the_loop_and_moves_a_slow_one_to_its_pool(tmp_path):
    """A ~0.3 ms decision runs on the event loop's thread (a hop to a worker would cost as much again); one that
    takes longer than INLINE_BELOW_S sends the next evaluations to the thread pool, where a budget can cut them."""
    from gateway.policy import embedded

    quick = EmbeddedEngine(load_source(POLICIES))
    threads: list[str] = []
    original = quick.evaluate_sync

    def spy(compiled, input_doc):
        threads.append(threading.current_thread().name)
        return original(compiled, input_doc)

    quick.evaluate_sync = spy  # type: ignore[method-assign]
    for _ in range(5):
        await quick.evaluate({"call": {"phase": "request"}})
    assert threads == [threading.current_thread().name] * 5
    await quick.aclose()

    (tmp_path / "slow.rego").write_text(SLOW_POLICY)
    slow = EmbeddedEngine(load_source(tmp_path))
    slow.evaluate_sync = spy  # type: ignore[method-assign]
    threads.clear()
    original = slow.__class__.evaluate_sync.__get__(slow)
    assert (await slow.evaluate({}))["allow"] is True
    assert (await slow.evaluate({}))["allow"] is True
    assert threads[0] == threading.current_thread().name and threads[1].startswith("rego")
    assert slow._pooled == embedded.POOLED_AFTER_SLOW - 1
    await slow.aclose()


def test_the_engines_own_input_conversion_gives_regopys_answers():
    """`to_input` (rego-cpp's C calls, direct) gives the policy the same input as `regopy.Input` does."""
    import regopy

    from gateway.errors import NulInInput
    from gateway.policy.engine import ENTRYPOINT
    from gateway.policy.rego_input import to_input

    compiled = CppProgram(load_source(ROOT / "docs/examples/finance-approval"))
    interpreter, bundle = compiled._interpreter(), compiled.bundle
    odd = {"floats": [0.5, -1e300, 3.0], "nested": {"a": [{"b": None}, [True, False]]}, "big": 2**62, "é": "ü€"}
    for doc in [*generated_inputs()[::7], *documented_inputs(), odd]:
        answers = []
        for made in (regopy.Input(doc), to_input(doc)):
            interpreter.set_input(made)
            answers.append(str(interpreter.query_bundle_entrypoint(bundle, ENTRYPOINT)))
        assert answers[0] == answers[1], doc
    interpreter.set_input(to_input(odd))
    assert json.loads(str(interpreter.query("x := input")))["bindings"]["x"] == odd
    for hostile in ({"a\x00b": 1}, {"a": ["ok", "x\x00"]}):
        with pytest.raises(NulInInput):
            to_input(hostile)
    with pytest.raises(PolicyEngineError, match="not JSON"):
        to_input({"a": object()})
