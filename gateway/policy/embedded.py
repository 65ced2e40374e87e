"""The default engine: Rego compiled once per policy version and evaluated in-process.

Two runtimes compile and evaluate (`policy.runtime`): OPA's own Go engine (`go_rego.py`, the default when
`opa-golib-python-bindings` is installed: OPA's answers, exact strings) and rego-cpp (`cpp_rego.py`, the
fallback: it refuses what it cannot evaluate exactly). A quick policy (a realistic one takes ~0.15-0.3 ms) is
evaluated on the event loop's own thread: the hop to a worker thread and back would cost about as much again.
A policy that turns slow (one evaluation over `INLINE_BELOW_S` of CPU time) is moved to a small thread pool for
the next `POOLED_AFTER_SLOW` evaluations, where it can be abandoned at its time budget instead of blocking the
loop; then the loop tries again. The caller (`stages.decide`) denies a decision that came back past its budget
either way.

    >>> engine = EmbeddedEngine(load_source(Path("policies")))  # doctest: +SKIP
    >>> asyncio.run(engine.evaluate({"principal": {...}, "call": {...}, "pii": []}))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, Protocol

from gateway.errors import ConfigError, PolicyEngineError
from gateway.policy import go_rego
from gateway.policy.cpp_rego import CppProgram
from gateway.policy.source import PolicySource, load_source

__all__ = ["CompiledPolicy", "EmbeddedEngine", "Runtime", "compile_source", "load_source", "runtime_name"]

INLINE_BELOW_S = 0.002  # an evaluation quicker than this runs on the event loop's thread
POOLED_AFTER_SLOW = 200  # evaluations sent to the thread pool after one that was not
Runtime = Literal["auto", "opa-go", "rego-cpp"]


class CompiledPolicy(Protocol):
    """One policy version compiled by a runtime; `evaluate` may be called from any thread."""

    source: PolicySource
    runtime: str

    def evaluate(self, input_doc: dict[str, Any]) -> Any: ...


def runtime_name(runtime: Runtime = "auto") -> str:
    """The runtime `auto` stands for here: OPA's Go engine when installed, else rego-cpp."""
    if runtime == "auto":
        return "opa-go" if go_rego.AVAILABLE else "rego-cpp"
    if runtime == "opa-go" and not go_rego.AVAILABLE:
        raise ConfigError("policy.runtime is opa-go but opa-golib-python-bindings is not installed")
    return runtime


def compile_source(
    source: PolicySource, modules: dict[str, str] | None = None, runtime: Runtime = "auto"
) -> CompiledPolicy:
    """Compile the policy modules (or the given ones) and data; ConfigError names file and line."""
    if runtime_name(runtime) == "opa-go":
        return go_rego.GoProgram(source, modules)
    return CppProgram(source, modules)


class EmbeddedEngine:
    """In-process Rego. `swap()` replaces the compiled version atomically; in-flight calls keep theirs."""

    def __init__(self, source: PolicySource, workers: int = 2, runtime: Runtime = "auto") -> None:
        self.runtime: Runtime = runtime
        self._compiled = compile_source(source, runtime=runtime)
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
        return self._compiled.source.version

    @property
    def source(self) -> PolicySource:
        return self._compiled.source

    def swap(self, compiled: CompiledPolicy) -> None:
        self._compiled = compiled

    def evaluate_sync(self, compiled: CompiledPolicy, input_doc: dict[str, Any]) -> Any:
        return compiled.evaluate(input_doc)

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
