"""The default engine: Rego compiled once per policy version with regopy (rego-cpp) and evaluated in-process.

Interpreters are not thread-safe (one shared by two threads segfaults), so each thread keeps its own and
they all share the one compiled bundle. A quick policy (a realistic one takes ~0.3 ms) is evaluated on the
event loop's own thread: the hop to a worker thread and back would cost about as much again. A policy that
turns slow (one evaluation over `INLINE_BELOW_S` of CPU time) is moved to a small thread pool for the next
`POOLED_AFTER_SLOW` evaluations, where it can be abandoned at its time budget instead of blocking the loop;
then the loop tries again. The caller (`stages.decide`) denies a decision that came back past its budget
either way.

    >>> engine = EmbeddedEngine(load_source(Path("policies")))  # doctest: +SKIP
    >>> asyncio.run(engine.evaluate({"principal": {...}, "call": {...}, "pii": []}))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import regopy

from gateway.errors import ConfigError, PolicyEngineError
from gateway.policy.engine import ENTRYPOINT
from gateway.policy.errors import format_errors
from gateway.policy.rego_input import to_input
from gateway.policy.source import PolicySource, load_source

__all__ = ["CompiledPolicy", "EmbeddedEngine", "compile_source", "load_source", "new_interpreter"]

INLINE_BELOW_S = 0.002  # an evaluation quicker than this runs on the event loop's thread
POOLED_AFTER_SLOW = 200  # evaluations sent to the thread pool after one that was not


def new_interpreter() -> Any:
    """A regopy interpreter that reports errors by raising only (by default rego-cpp also prints them)."""
    interpreter = regopy.Interpreter()
    interpreter.log_level = regopy.LogLevel.NONE
    return interpreter


@dataclass(frozen=True)
class CompiledPolicy:
    source: PolicySource
    bundle: Any  # regopy.Bundle

    @property
    def version(self) -> str:
        return self.source.version


def compile_source(source: PolicySource, modules: dict[str, str] | None = None) -> CompiledPolicy:
    """Compile the policy modules (or the given ones) and data into a bundle; errors name file and line."""
    interpreter = new_interpreter()
    named = {str(source.root / name): text for name, text in (modules or source.policy_modules()).items()}
    try:
        interpreter.add_data(source.data)
        for name, text in named.items():
            interpreter.add_module(name, text)
        bundle = interpreter.build(None, [ENTRYPOINT])
    except (regopy.RegoError, ValueError) as exc:
        raise ConfigError(f"policy in {source.root} does not compile:\n{format_errors(str(exc), named)}") from exc
    return CompiledPolicy(source=source, bundle=bundle)


def parse_output(output: Any) -> Any:
    """regopy's Output as a Python value: None when undefined; PolicyEngineError when it failed."""
    text = str(output)
    if not output.ok():
        raise PolicyEngineError(f"policy evaluation failed: {text.strip()}")
    if text.strip() == "undefined":
        return None
    try:
        expressions = json.loads(text)["expressions"]
    except (ValueError, KeyError, TypeError) as exc:
        raise PolicyEngineError(f"policy evaluation returned an unreadable result: {text[:200]}") from exc
    return expressions[0] if expressions else None


class EmbeddedEngine:
    """In-process Rego. `swap()` replaces the compiled version atomically; in-flight calls keep theirs."""

    def __init__(self, source: PolicySource, workers: int = 2) -> None:
        self._compiled = compile_source(source)
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rego")
        self._pooled = 0  # evaluations still to send to the pool (a recent one was slow)
        self._warm_up(workers)

    def _warm_up(self, workers: int) -> None:
        """Start every worker with its interpreter and one evaluation done: a cold interpreter costs tens of
        milliseconds, enough for the first calls after a start to blow the decision's time budget."""
        barrier = threading.Barrier(workers)

        def warm() -> None:
            with contextlib.suppress(PolicyEngineError):
                self.evaluate_sync(self._compiled, {})
            barrier.wait(timeout=30)  # holds this thread so that each task lands on a thread of its own

        for future in [self._pool.submit(warm) for _ in range(workers)]:
            future.result()
        with contextlib.suppress(PolicyEngineError):  # and this thread's (the event loop's) interpreter
            self.evaluate_sync(self._compiled, {})

    @property
    def version(self) -> str:
        return self._compiled.version

    @property
    def source(self) -> PolicySource:
        return self._compiled.source

    def swap(self, compiled: CompiledPolicy) -> None:
        self._compiled = compiled

    def _interpreter(self) -> Any:
        interpreter = getattr(self._local, "interpreter", None)
        if interpreter is None:
            interpreter = self._local.interpreter = new_interpreter()
        return interpreter

    def evaluate_sync(self, compiled: CompiledPolicy, input_doc: dict[str, Any]) -> Any:
        interpreter = self._interpreter()
        given = to_input(input_doc)  # refuses NUL: rego-cpp ends strings there ("alice\0mallory" is "alice")
        try:
            interpreter.set_input(given)
            output = interpreter.query_bundle_entrypoint(compiled.bundle, ENTRYPOINT)
        except (regopy.RegoError, ValueError) as exc:  # an unknown builtin can surface as JSONDecodeError
            raise PolicyEngineError(f"policy evaluation failed: {exc}") from exc
        return parse_output(output)

    async def evaluate(self, input_doc: dict[str, Any]) -> Any:
        compiled = self._compiled
        if self._pooled:
            self._pooled -= 1
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, self.evaluate_sync, compiled, input_doc)
        started = time.thread_time()  # this thread's CPU time: a busy machine pausing the process is not the policy
        try:
            return self.evaluate_sync(compiled, input_doc)
        finally:
            if time.thread_time() - started > INLINE_BELOW_S:
                self._pooled = POOLED_AFTER_SLOW

    async def ready(self) -> bool:
        return True

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
