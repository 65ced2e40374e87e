"""`gateway policy test`: run the `test_*` rules of every `*_test.rego` with the embedded engine."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import regopy

from gateway.policy.embedded import parse_output
from gateway.policy.source import PolicySource

_PACKAGE = re.compile(r"^\s*package\s+([\w.]+)", re.M)
_TEST = re.compile(r"^(test_\w+)\b", re.M)


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


def _run_one(source: PolicySource, file: str, query: str) -> TestResult:
    interpreter = regopy.Interpreter()  # fresh per test: no state leaks between tests
    started = time.perf_counter()
    try:
        interpreter.add_data(source.data)
        for name, text in source.modules.items():
            interpreter.add_module(str(source.root / name), text)
        value = parse_output(interpreter.query(query))
    except Exception as exc:  # noqa: BLE001 - a test that errors is reported, whatever raised
        return TestResult(query, file, False, time.perf_counter() - started, f"error: {exc}".strip())
    seconds = time.perf_counter() - started
    if value is True:
        return TestResult(query, file, True, seconds)
    return TestResult(query, file, False, seconds, "undefined" if value is None else f"got {value!r}")


def run_tests(source: PolicySource, match: str | None = None) -> list[TestResult]:
    return [_run_one(source, file, query) for file, query in discover(source) if not match or match in query]
