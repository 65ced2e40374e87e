"""OPA's own Go `rego` package in-process (`opa-golib-python-bindings`): the embedded engine's default runtime.

It is OPA, so it gives the `opa` server's answers (every builtin, Rego v1), and its result crosses the boundary
as JSON that Go's encoder wrote: a string an agent controls (an end-user name, a tool argument) stays a string,
whatever quotes, backslashes or control characters it holds. An engine serializes its evaluations with a lock,
so each thread keeps an engine of its own, all compiled from the one source.

The package is published for Python >= 3.14 only, although its wheel is `py3-none`: `scripts/venv.sh` installs
it with `--ignore-requires-python`. Without it the embedded engine falls back to rego-cpp (`cpp_rego.py`).

    >>> program = GoProgram(load_source(Path("policies")))  # doctest: +SKIP
    >>> program.evaluate({"principal": {...}, "call": {...}, "pii": []})  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from typing import Any

from gateway.errors import ConfigError, PolicyEngineError
from gateway.policy.engine import ENTRYPOINT
from gateway.policy.source import PolicySource

try:
    from opa_bindings.engine import OpaEngine, OpaError, OpaUndefinedError
except ImportError:  # pragma: no cover - the fallback is tested where the package is missing
    OpaEngine = OpaError = OpaUndefinedError = None

__all__ = ["AVAILABLE", "GoProgram", "OpaError", "OpaUndefinedError", "tracing_engine"]

AVAILABLE = OpaEngine is not None
_DOCUMENT = ENTRYPOINT.replace("/", ".")
_COMPILE_ERRORS = frozenset({"parse_error", "prepare_error", "compile_error"})


def _engine(source: PolicySource, modules: dict[str, str]) -> Any:
    engine = OpaEngine()
    try:
        engine.add_data(source.data)
        for name, text in modules.items():
            engine.add_policy(str(source.root / name), text)
    except OpaError as exc:
        engine.close()
        raise ConfigError(f"policy in {source.root} does not compile:\n{exc.message}") from exc
    return engine


def tracing_engine(source: PolicySource) -> Any:
    """A fresh engine of `source`'s policy modules, for a traced evaluation (`gateway.policy.why`); close it."""
    return _engine(source, source.policy_modules())


class GoProgram:
    """One policy version compiled by OPA's Go engine; `evaluate` is safe from any thread."""

    runtime = "opa-go"

    def __init__(self, source: PolicySource, modules: dict[str, str] | None = None) -> None:
        self.source = source
        self._modules = modules if modules is not None else source.policy_modules()
        self._local = threading.local()
        self._compile()

    def _compile(self) -> None:
        """Prepare the entrypoint now: a module that does not compile is refused before it serves."""
        try:
            self._thread_engine().eval_document(_DOCUMENT, {})
        except OpaUndefinedError:
            pass
        except OpaError as exc:
            if exc.code in _COMPILE_ERRORS:
                raise ConfigError(f"policy in {self.source.root} does not compile:\n{exc.message}") from exc

    def _thread_engine(self) -> Any:
        engine = getattr(self._local, "engine", None)
        if engine is None:
            engine = self._local.engine = _engine(self.source, self._modules)
        return engine

    def evaluate(self, input_doc: dict[str, Any]) -> Any:
        """The decision document, None when undefined; PolicyEngineError when the evaluation failed."""
        try:
            return self._thread_engine().eval_document(_DOCUMENT, input_doc)
        except OpaUndefinedError:
            return None
        except OpaError as exc:
            raise PolicyEngineError(f"policy evaluation failed: {exc.code}: {exc.message}") from exc

    def evaluate_many(self, inputs: list[dict[str, Any]]) -> list[Any]:
        """The decision document for each input (None where undefined), in one evaluation: a replay's batch
        crosses into Go once (half the cost of one crossing each). PolicyEngineError if any evaluation failed."""
        query = f"__x := [r | some i, doc in input.batch; r := [i, data.{_DOCUMENT}] with input as doc]"
        try:
            results = self._thread_engine().eval_query(query, {"batch": inputs})
        except OpaError as exc:
            raise PolicyEngineError(f"policy evaluation failed: {exc.code}: {exc.message}") from exc
        out: list[Any] = [None] * len(inputs)
        for index, document in results[0]["__x"] if results else []:
            out[index] = document
        return out

    def query(self, query: str) -> Any:
        """The value of a query's one expression (None when undefined); ConfigError when it does not compile."""
        try:
            results = self._thread_engine().eval_query(f"__x := {query}")
        except OpaError as exc:
            if exc.code in _COMPILE_ERRORS:
                raise ConfigError(f"policy in {self.source.root} does not compile:\n{exc.message}") from exc
            raise PolicyEngineError(f"policy evaluation failed: {exc.code}: {exc.message}") from exc
        return results[0].get("__x") if results else None
