#!/usr/bin/env python3
"""Run OPA's Rego compliance cases against the embedded rego-cpp engine (``regopy``).

Each case is evaluated with a fresh ``regopy.Interpreter`` inside a worker subprocess, so a case
that aborts or hangs the native library is recorded as a failure ("crash" / "timeout") instead of
killing the run.  Every case is classified as:

* ``pass``        -- the bindings match ``want_result``, or an error was wanted and one happened;
* ``unsupported`` -- the case calls a builtin that regopy does not know (``Interpreter.is_builtin``);
* ``fail``        -- anything else.

Usage::

    python bench/opa_compliance.py [--data DIR] [--topic NAME] [--verbose] [--json FILE]
                                   [--check-known] [--known FILE] [--jobs N]

See bench/README-compliance.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import queue
import re
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/opa-compliance"
KNOWN_FILE = BENCH_DIR / "opa_compliance_known.json"
CASE_TIMEOUT_S = 15.0
REASON_MAX = 300

PASS, FAIL, UNSUPPORTED = "pass", "fail", "unsupported"


@dataclass
class Case:
    """One compliance case plus the key that identifies it in the known-differences file."""

    key: str
    topic: str
    note: str
    body: dict[str, Any]


@dataclass
class CaseResult:
    """Classification of one case."""

    key: str
    topic: str
    note: str
    status: str
    reason: str = ""


# --------------------------------------------------------------------------------------------
# Loading cases
# --------------------------------------------------------------------------------------------


def load_cases(data_dir: Path, topic: str | None) -> list[Case]:
    """Load every case of every topic file (or just ``topic``) in ``data_dir``.

    Keys are ``"<topic>/<note>"``; a note repeated inside one topic gets a ``" #2"``, ``" #3"``...
    suffix so that every key is unique.
    """
    files = sorted(data_dir.glob("*.json"))
    if topic is not None:
        files = [f for f in files if f.stem == topic]
        if not files:
            raise SystemExit(f"no topic file {topic}.json in {data_dir}")
    cases: list[Case] = []
    for path in files:
        seen: dict[str, int] = {}
        for body in json.loads(path.read_text())["cases"]:
            note = body["note"]
            seen[note] = seen.get(note, 0) + 1
            suffix = f" #{seen[note]}" if seen[note] > 1 else ""
            cases.append(Case(f"{path.stem}/{note}{suffix}", path.stem, note, body))
    return cases


# --------------------------------------------------------------------------------------------
# Detecting builtins regopy does not know
# --------------------------------------------------------------------------------------------

_STRING_OR_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`|#[^\n]*')
_CALL = re.compile(r"(?<![\w.\]])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\(")
_FUNC_HEAD = re.compile(r"^(?:default\s+)?([A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[\s*\"\w+\"\s*\])*)\s*\(", re.MULTILINE)
_COMMENT = re.compile(r"#[^\n]*")
_IMPORT = re.compile(r"^\s*import\s+([\w.]+)(?:\s+as\s+(\w+))?", re.MULTILINE)
_NOT_CALLS = {"if", "not", "some", "every", "in", "contains", "else", "with", "as", "default", "set", "package"}


def _strip_strings(source: str) -> str:
    """Blank out string literals and comments so that their text is not scanned for calls."""
    return _STRING_OR_COMMENT.sub('""', source)


def _user_names(modules: list[str]) -> tuple[set[str], set[str]]:
    """Return (function names defined by rule heads, import aliases) of the modules.

    Heads are the lines starting in column 0 with ``name(``; ``foo["bar"](x)`` defines ``foo.bar``.
    Calls through ``data.``, ``input.`` or an import alias always refer to user code.
    """
    defined: set[str] = set()
    aliases: set[str] = {"data", "input"}
    for module in modules:
        for name in _FUNC_HEAD.findall(_COMMENT.sub("", module)):  # keeps strings: foo["bar"](x) := ...
            defined.add(re.sub(r'\[\s*"(\w+)"\s*\]', r".\1", name))
        for path, alias in _IMPORT.findall(_strip_strings(module)):
            aliases.add(alias or path.split(".")[-1])
    return defined, aliases


def called_names(case: dict[str, Any]) -> set[str]:
    """Names of the functions called by the case's modules and query that are not user-defined."""
    modules = case.get("modules", [])
    defined, aliases = _user_names(modules)
    names: set[str] = set()
    for source in [*modules, case["query"]]:
        for name in _CALL.findall(_strip_strings(source)):
            if name not in _NOT_CALLS and name not in defined and name.split(".")[0] not in aliases:
                names.add(name)
    return names


# --------------------------------------------------------------------------------------------
# Comparing results the way OPA's compliance harness does
# --------------------------------------------------------------------------------------------
#
# OPA's harness (topdown's testAssertResultSet) turns both the wanted and the actual binding maps
# into a *set* of objects, so the order of result rows is irrelevant, and with sort_bindings it
# sorts every (array) binding value first.  Values are compared as Rego values: 1 == 1.0, and
# sets appear as arrays sorted in OPA's value order.  regopy also renders sets as JSON arrays,
# sorted in rego-cpp's order, which differs from OPA's for some mixed composite members, so an
# expected array that is strictly increasing in OPA's order (it may be a set) is also accepted
# in any order.

Matcher = Callable[[Any, Any], bool]


def opa_order_key(value: Any) -> tuple[Any, ...]:
    """Sort key following OPA's value ordering: null < boolean < number < string < array < object."""
    if value is None:
        return (0,)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, (int, float)):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    if isinstance(value, list):
        return (4, tuple(opa_order_key(v) for v in value))
    return (5, tuple((k, opa_order_key(value[k])) for k in sorted(value)))


def looks_like_set(values: list[Any]) -> bool:
    """True if the array is strictly increasing in OPA's order, i.e. it may be a rendered set."""
    keys = [opa_order_key(v) for v in values]
    return len(keys) > 1 and all(a < b for a, b in itertools.pairwise(keys))


def unordered_match(want: list[Any], got: list[Any], match: Matcher) -> bool:
    """Multiset comparison of two lists, elements compared with ``match``."""
    if len(want) != len(got):
        return False
    unused = list(got)
    for item in want:
        found = next((i for i, candidate in enumerate(unused) if match(item, candidate)), None)
        if found is None:
            return False
        unused.pop(found)
    return True


def values_match(want: Any, got: Any) -> bool:
    """Compare two JSON values as Rego values (see the comment above)."""
    if isinstance(want, bool) or isinstance(got, bool):
        return isinstance(want, bool) and isinstance(got, bool) and want == got
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        return want == got
    if isinstance(want, dict):
        if not isinstance(got, dict) or want.keys() != got.keys():
            return False
        return all(values_match(want[k], got[k]) for k in want)
    if isinstance(want, list):
        if not isinstance(got, list) or len(want) != len(got):
            return False
        if all(values_match(w, g) for w, g in zip(want, got, strict=True)):
            return True
        return looks_like_set(want) and unordered_match(want, got, values_match)
    return type(want) is type(got) and want == got


def binding_match(want: Any, got: Any, sort_bindings: bool) -> bool:
    """Compare one binding value; with sort_bindings arrays are compared order-insensitively."""
    if sort_bindings and isinstance(want, list) and isinstance(got, list):
        return unordered_match(want, got, values_match)
    return values_match(want, got)


def rows_match(want: dict[str, Any], got: dict[str, Any], sort_bindings: bool) -> bool:
    """Compare one binding map (one result row)."""
    return want.keys() == got.keys() and all(binding_match(want[k], got[k], sort_bindings) for k in want)


def distinct(rows: list[dict[str, Any]], sort_bindings: bool) -> list[dict[str, Any]]:
    """Drop duplicate rows (OPA collects result rows into a set)."""
    kept: list[dict[str, Any]] = []
    for row in rows:
        if not any(rows_match(row, other, sort_bindings) for other in kept):
            kept.append(row)
    return kept


def results_match(want: list[dict[str, Any]], got: list[dict[str, Any]], sort_bindings: bool) -> bool:
    """Compare the wanted and actual result rows as sets of binding maps."""

    def match(w: dict[str, Any], g: dict[str, Any]) -> bool:
        return rows_match(w, g, sort_bindings)

    return unordered_match(distinct(want, sort_bindings), distinct(got, sort_bindings), match)


# --------------------------------------------------------------------------------------------
# Evaluating one case (runs inside a worker process)
# --------------------------------------------------------------------------------------------


class EvalError(Exception):
    """Evaluation of a case ended in an error."""


def engine_errors(output: Any) -> str:
    """Messages of an error output, read from its ErrorSeq node (``str(output)`` is just "<error>").

    Uses regopy's low-level ``rego_shared`` functions: the ``Node`` wrapper cannot represent the
    ErrorSeq kind.  Each child prints as ``(error (errormsg <len>:<text>) ...)``.
    """
    from regopy import rego_shared

    node = rego_shared.rego_output_node(output._impl)
    return "; ".join(
        error_messages(rego_shared.rego_node_json(rego_shared.rego_node_get(node, i)))
        for i in range(rego_shared.rego_node_size(node))
    )


def error_messages(text: str) -> str:
    """Extract the length-prefixed ``errormsg`` texts from an error node printed as an s-expression."""
    messages = []
    for match in re.finditer(r"\(errormsg (\d+):", text):
        messages.append(text[match.end() : match.end() + int(match.group(1))])
    return "; ".join(messages) or text.strip()


def raw_output_text(interp: Any, query: str) -> str:
    """Re-run a query at the C-API level to see the output text the wrapper failed to parse."""
    from regopy import rego_shared

    impl = rego_shared.rego_query(interp._impl, query)
    try:
        return str(rego_shared.rego_output_string(impl))
    finally:
        rego_shared.rego_free_output(impl)


def make_interpreter(case: dict[str, Any]) -> Any:
    """A fresh interpreter loaded with the case's modules, data and input."""
    import regopy  # imported here so the driver process never loads the native library

    interp = regopy.Interpreter()
    if case.get("strict_error"):
        interp.strict_built_in_errors = True
    for index, module in enumerate(case.get("modules", [])):
        interp.add_module(f"module{index}.rego", module)
    # ensure_ascii=False: rego-cpp keeps \uXXXX escapes in JSON strings literally, so do not add any.
    if "data" in case:
        interp.add_data_json(json.dumps(case["data"], ensure_ascii=False))
    if "input" in case:
        interp.set_input_term(json.dumps(case["input"], ensure_ascii=False))
    elif "input_term" in case:
        interp.set_input_term(case["input_term"])
    return interp


def evaluate(case: dict[str, Any]) -> list[dict[str, Any]]:
    """Evaluate the case and return its binding maps; raise EvalError when the engine reports one."""
    interp = make_interpreter(case)
    try:
        output = interp.query(case["query"])
    except json.JSONDecodeError as exc:
        text = raw_output_text(interp, case["query"])
        detail = error_messages(text) if text.startswith("(error") else f"invalid JSON output ({exc}): {text}"
        raise EvalError(detail) from exc
    if not output.ok():
        raise EvalError(engine_errors(output))
    if str(output) == "undefined":
        return []
    return [result.bindings for result in output.results]


def unknown_builtins(case: dict[str, Any]) -> list[str]:
    """Called function names that regopy does not know as builtins."""
    import regopy

    interp = regopy.Interpreter()
    return sorted(name for name in called_names(case) if not interp.is_builtin(name))


def first_error_line(log: str) -> str:
    """Pick the first informative line of what the native library printed (its error report)."""
    lines = [line.strip() for line in log.splitlines()]
    for index, line in enumerate(lines):
        if line == "Errors:" and index + 1 < len(lines) and lines[index + 1]:
            return lines[index + 1]
    return next((line for line in lines if line and not line.startswith("--")), "")


def shorten(text: str, limit: int = REASON_MAX) -> str:
    """Collapse whitespace and truncate a reason string."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_log(log_fd: int) -> str:
    """First informative line of what the native library printed during this case."""
    os.lseek(log_fd, 0, os.SEEK_SET)
    return first_error_line(os.read(log_fd, 65536).decode(errors="replace"))


def describe_exception(exc: Exception) -> str:
    """One-line description of an evaluation exception (RegoError texts are ErrorSeq s-expressions)."""
    text = str(exc)
    if "(errormsg" in text:
        text = error_messages(text)
    return text if isinstance(exc, EvalError) else f"{type(exc).__name__}: {text}"


def classify(case: dict[str, Any], log_fd: int) -> tuple[str, str]:
    """Evaluate and classify one case; ``log_fd`` receives what the native library prints."""
    unknown = unknown_builtins(case)
    if unknown:
        return UNSUPPORTED, "unknown builtin: " + ", ".join(unknown)
    wanted_error = case.get("want_error") or case.get("want_error_code")
    try:
        got = evaluate(case)
    except Exception as exc:  # EvalError, RegoError from the wrapper, ...
        error = describe_exception(exc) or read_log(log_fd)
        if wanted_error:
            return PASS, shorten(f"error as wanted: {error} (OPA: {wanted_error})")
        return FAIL, shorten(f"unexpected error: {error}")
    if wanted_error:
        return FAIL, shorten(f"no error (OPA: {wanted_error}); got {json.dumps(got)}")
    if results_match(case["want_result"], got, bool(case.get("sort_bindings"))):
        return PASS, ""
    return FAIL, shorten(
        f"got {json.dumps(got, ensure_ascii=False)}, want {json.dumps(case['want_result'], ensure_ascii=False)}"
    )


def worker_main(log_path: str) -> None:
    """Worker loop: read one case per stdin line, answer one JSON line on the original stdout.

    The native library prints diagnostics on stdout/stderr, so both are redirected into
    ``log_path`` (truncated per case); the driver reads it when the worker crashes.
    """
    channel = os.fdopen(os.dup(1), "w")
    log_fd = os.open(log_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    for line in sys.stdin:
        os.ftruncate(log_fd, 0)
        os.lseek(log_fd, 0, os.SEEK_SET)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        try:
            status, reason = classify(json.loads(line), log_fd)
        except Exception as exc:
            status, reason = FAIL, shorten(f"harness error: {type(exc).__name__}: {exc}")
        channel.write(json.dumps({"status": status, "reason": reason}) + "\n")
        channel.flush()


# --------------------------------------------------------------------------------------------
# Driving workers (parent process)
# --------------------------------------------------------------------------------------------


class Worker:
    """A worker subprocess evaluating cases one at a time."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(log_path)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def run(self, case: Case, timeout: float) -> tuple[str, str] | None:
        """Send a case and wait for its classification; None means the worker died or hung."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write((json.dumps(case.body) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            return None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            return None
        answer = json.loads(line)
        return answer["status"], answer["reason"]

    def crash_reason(self) -> str:
        """Kill the worker and describe why it stopped answering."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            return "timeout"
        printed = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        detail = next((ln.strip() for ln in printed.splitlines() if "what()" in ln or "terminate" in ln), "")
        return shorten(f"crash (exit {self.proc.returncode}) {detail}".strip())

    def close(self) -> None:
        """Stop the worker."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait()


def drive(work: queue.Queue[int], cases: list[Case], results: list[CaseResult | None], log_path: Path) -> None:
    """Thread body: feed cases from ``work`` to one worker, restarting it after a crash."""
    worker: Worker | None = None
    while True:
        try:
            index = work.get_nowait()
        except queue.Empty:
            break
        case = cases[index]
        worker = worker or Worker(log_path)
        answer = worker.run(case, CASE_TIMEOUT_S)
        if answer is None:
            answer = (FAIL, worker.crash_reason())
            worker = None
        results[index] = CaseResult(case.key, case.topic, case.note, *answer)
    if worker is not None:
        worker.close()


def run_cases(cases: list[Case], jobs: int) -> list[CaseResult]:
    """Evaluate all cases on ``jobs`` worker processes."""
    work: queue.Queue[int] = queue.Queue()
    for index in range(len(cases)):
        work.put(index)
    results: list[CaseResult | None] = [None] * len(cases)
    with tempfile.TemporaryDirectory(prefix="opa-compliance-") as tmp:
        threads = [
            threading.Thread(target=drive, args=(work, cases, results, Path(tmp) / f"worker{n}.log"))
            for n in range(jobs)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return [r for r in results if r is not None]


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


def tally(results: list[CaseResult]) -> dict[str, dict[str, int]]:
    """Per-topic counts of pass / fail / unsupported."""
    table: dict[str, dict[str, int]] = {}
    for result in results:
        row = table.setdefault(result.topic, {PASS: 0, FAIL: 0, UNSUPPORTED: 0})
        row[result.status] += 1
    return dict(sorted(table.items()))


def table_lines(table: dict[str, dict[str, int]]) -> Iterator[str]:
    """Render the per-topic table followed by the total line."""
    width = max([len(topic) for topic in table] + [5])
    yield f"{'topic':<{width}}  {'cases':>5}  {'pass':>5}  {'fail':>5}  {'unsupported':>11}"
    totals = {PASS: 0, FAIL: 0, UNSUPPORTED: 0}
    for topic, row in table.items():
        for status in totals:
            totals[status] += row[status]
        yield f"{topic:<{width}}  {sum(row.values()):>5}  {row[PASS]:>5}  {row[FAIL]:>5}  {row[UNSUPPORTED]:>11}"
    total = sum(totals.values())
    yield (
        f"TOTAL: {totals[PASS]} of {total} pass, {totals[FAIL]} fail, {totals[UNSUPPORTED]} unsupported"
        f" ({100.0 * totals[PASS] / max(total, 1):.1f}% pass)"
    )


def print_failures(results: list[CaseResult]) -> None:
    """Print each non-passing case with its reason."""
    for result in results:
        if result.status != PASS:
            print(f"{result.status.upper():<11} {result.key}: {result.reason}")


def check_known(results: list[CaseResult], known_path: Path, topic: str | None) -> bool:
    """Compare the non-passing cases with the known-differences file; print and return agreement."""
    known = set(json.loads(known_path.read_text())) if known_path.exists() else set()
    if topic is not None:
        known = {key for key in known if key.startswith(topic + "/")}
    run_keys = {r.key for r in results}
    failing = {r.key for r in results if r.status != PASS}
    reasons = {r.key: f"{r.status}: {r.reason}" for r in results}
    groups = [
        ("new failures (not in known file)", sorted(failing - known), True),
        ("known differences that now pass", sorted(known & (run_keys - failing)), False),
        ("known differences not found among the cases", sorted(known - run_keys), False),
    ]
    for title, keys, show_reason in groups:
        if keys:
            print(f"\n{title}: {len(keys)}")
            for key in keys:
                print(f"  {key}" + (f"  [{reasons[key]}]" if show_reason else ""))
    ok = not any(keys for _, keys, _ in groups)
    print(f"\ncheck-known: {'OK, matches' if ok else 'DIFFERS from'} {known_path.name}")
    return ok


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description="Run OPA's Rego compliance cases against regopy (rego-cpp).")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="directory of topic JSON files")
    parser.add_argument("--topic", help="run only this topic (file name without .json)")
    parser.add_argument("--verbose", action="store_true", help="print each non-passing case with its reason")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the per-case results to FILE")
    parser.add_argument("--check-known", action="store_true", help=f"exit 1 if failures differ from {KNOWN_FILE.name}")
    parser.add_argument("--known", type=Path, default=KNOWN_FILE, metavar="FILE", help="known-differences file")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="worker processes (default: CPUs)")
    parser.add_argument("--worker", metavar="LOG", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Entry point."""
    args = parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return 0
    started = time.monotonic()
    cases = load_cases(args.data, args.topic)
    results = run_cases(cases, max(1, args.jobs))
    if args.verbose:
        print_failures(results)
        print()
    for line in table_lines(tally(results)):
        print(line)
    print(f"elapsed: {time.monotonic() - started:.1f}s")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    if args.check_known and not check_known(results, args.known, args.topic):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
