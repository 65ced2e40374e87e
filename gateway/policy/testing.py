"""`gateway policy test`: run the `test_*` rules of every `*_test.rego` with the embedded engine's runtime.

On OPA's Go engine the tests run in this process, one engine for all. On rego-cpp each test runs in a forked
child with a fresh interpreter: rego-cpp can abort the whole process on some constructs (regopy 1.5.2: `with
input as <object>` when the rule under test calls a builtin), and one such test must fail on its own instead of
taking the run down with it.
"""

from __future__ import annotations

import multiprocessing
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from gateway.errors import ConfigError
from gateway.policy import cpp_rego, go_rego
from gateway.policy.embedded import Runtime, compile_source, runtime_name
from gateway.policy.source import PolicySource

_PACKAGE = re.compile(r"^\s*package\s+([\w.]+)", re.M)
_TEST = re.compile(r"^(test_\w+)\b", re.M)
T = TypeVar("T")
CRASH_HINT = (
    "the embedded engine crashed on this test; a known cause is `with input as <object>` in a test of a "
    "rule that calls a builtin: replace input field by field (`with input.call as ...`)"
)


@dataclass(frozen=True)
class TestResult:
    name: str  # data.<package>.<rule>
    file: str
    passed: bool
    seconds: float
    detail: str = ""


def discover(source: PolicySource) -> list[tuple[str, str]]:
    """(file, data.package.test_rule) for every test rule, in file order."""
    found = []
    for name, text in sorted(source.modules.items()):
        package = _PACKAGE.search(text)
        if not name.endswith("_test.rego") or not package:
            continue
        for rule in dict.fromkeys(_TEST.findall(text)):
            found.append((name, f"data.{package.group(1)}.{rule}"))
    return found


def _verdict(ask: Callable[[str], Any], query: str) -> tuple[bool, str]:
    try:
        value = ask(query)
    except Exception as exc:  # noqa: BLE001 - a test that errors is reported, whatever raised
        return False, f"error: {getattr(exc, 'message', exc)}".strip()
    if value is True:
        return True, ""
    return False, "undefined" if value is None else f"got {value!r}"


def _evaluate(source: PolicySource, query: str) -> tuple[bool, str]:
    return _verdict(lambda text: cpp_rego.query(source, text), query)


def _child(work: Callable[..., Any], args: tuple[Any, ...], conn: Connection) -> None:
    conn.send(work(*args))
    conn.close()


def in_child(work: Callable[..., T], args: tuple[Any, ...], timeout_s: float) -> T | str:
    """`work(*args)` in a forked process; a crash or timeout comes back as a string saying which."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(work, args, sender), daemon=True)
    child.start()
    sender.close()
    outcome: T | str = f"timed out after {timeout_s:g} s"
    if receiver.poll(timeout_s):
        try:
            outcome = receiver.recv()
        except EOFError:  # the child died before it could answer
            outcome = CRASH_HINT
    child.join(1)
    if child.is_alive():
        child.kill()
        child.join()
    receiver.close()
    if isinstance(outcome, str) and child.exitcode not in (0, None, -9):
        return CRASH_HINT
    return outcome


def _compile_all(source: PolicySource, runtime: Runtime = "rego-cpp") -> str:
    try:
        compile_source(source, source.modules, runtime)
    except ConfigError as exc:
        return exc.message
    return ""


def compile_error(source: PolicySource, timeout_s: float = 60.0, runtime: Runtime = "auto") -> str:
    """The compile error of all modules, tests included ("" when they compile); on rego-cpp found in a child
    process (a crash is not reported here: the tests then run one by one and the ones that crash say so)."""
    if runtime_name(runtime) == "opa-go":
        return _compile_all(source, "opa-go")
    outcome = in_child(_compile_all, (source,), timeout_s)
    return "" if outcome == CRASH_HINT else outcome


def _run_one(source: PolicySource, file: str, query: str, timeout_s: float) -> TestResult:
    started = time.perf_counter()
    outcome = in_child(_evaluate, (source, query), timeout_s)
    seconds = time.perf_counter() - started
    if isinstance(outcome, str):
        return TestResult(query, file, False, seconds, outcome)
    passed, detail = outcome
    return TestResult(query, file, passed, seconds, detail)


def _run_in_process(source: PolicySource, tests: list[tuple[str, str]]) -> list[TestResult]:
    program = go_rego.GoProgram(source, source.modules)
    results = []
    for file, query in tests:
        started = time.perf_counter()
        passed, detail = _verdict(program.query, query)
        results.append(TestResult(query, file, passed, time.perf_counter() - started, detail))
    return results


def run_tests(
    source: PolicySource, match: str | None = None, timeout_s: float = 30.0, runtime: Runtime = "auto"
) -> list[TestResult]:
    tests = [(file, query) for file, query in discover(source) if not match or match in query]
    if runtime_name(runtime) == "opa-go":
        return _run_in_process(source, tests)
    return [_run_one(source, file, query, timeout_s) for file, query in tests]
