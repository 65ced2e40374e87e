"""rego-cpp (`regopy`, Microsoft's C++ Rego) in-process: the embedded engine's fallback runtime.

rego-cpp 1.5.2 does not keep strings exact: its text output leaves `"` and `\\` unescaped inside strings (so an
agent could close a string it controls and add keys), strings computed by builtins come back wrapped in quotes,
and it compares an input `"x"` (quotes included) equal to `x`. So this runtime
- refuses an input holding NUL, `"` or `\\` (a deny with the reason: it cannot evaluate them as OPA would),
- reads the result from the engine's typed nodes, never from its text, and
- refuses a result whose typed reading and text reading disagree (a result that does not round-trip).
OPA's Go engine (`go_rego.py`) has none of these limits and is the default when installed.

Interpreters are not thread-safe (one shared by two threads segfaults): each thread keeps its own, and they all
share the one compiled bundle.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import regopy
from regopy import rego_shared as rs

from gateway.errors import ConfigError, PolicyEngineError
from gateway.policy.engine import ENTRYPOINT
from gateway.policy.errors import format_errors
from gateway.policy.rego_input import to_input
from gateway.policy.source import PolicySource

__all__ = ["CppProgram", "new_interpreter", "read_output"]

_K = rs.NodeKind
_UNFAITHFUL = ('"', "\\")


class UnfaithfulInput(PolicyEngineError):
    def __init__(self) -> None:
        super().__init__(
            "the input holds a quote or backslash, which the rego-cpp runtime cannot evaluate exactly "
            "(install opa-golib-python-bindings for OPA's own engine, or use policy.engine: opa)"
        )


def new_interpreter() -> Any:
    """A regopy interpreter that reports errors by raising only (by default rego-cpp also prints them)."""
    interpreter = regopy.Interpreter()
    interpreter.log_level = regopy.LogLevel.NONE
    return interpreter


def _require_faithful(value: Any) -> None:
    if isinstance(value, str):
        if any(c in value for c in _UNFAITHFUL):
            raise UnfaithfulInput()
    elif isinstance(value, dict):
        for key, item in value.items():
            _require_faithful(key)
            _require_faithful(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _require_faithful(item)


def _string(raw: str) -> str:
    """A string node's value: builtins' results come wrapped in quotes, literals keep their escapes."""
    body = raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw
    try:
        return str(json.loads(f'"{body}"', strict=False))
    except ValueError:
        return body


def _node(impl: int) -> Any:
    kind = rs.rego_node_type(impl)
    if kind in (_K.Term, _K.Scalar):
        return _node(rs.rego_node_get(impl, 0))
    if kind == _K.String:
        return _string(rs.rego_node_value(impl))
    if kind == _K.Int:
        return int(rs.rego_node_value(impl))
    if kind == _K.Float:
        return float(rs.rego_node_value(impl))
    if kind == _K.Boolean:
        return rs.rego_node_value(impl) == "true"
    if kind == _K.Null:
        return None
    children = [rs.rego_node_get(impl, i) for i in range(rs.rego_node_size(impl))]
    if kind in (_K.Array, _K.Set):
        return [_node(child) for child in children]
    if kind == _K.Object:
        return dict(_item(child) for child in children)
    raise PolicyEngineError(f"policy evaluation returned a value of kind {kind!r}, which is not JSON")


def _item(impl: int) -> tuple[str, Any]:
    key = _node(rs.rego_node_get(impl, 0))
    if not isinstance(key, str):
        raise PolicyEngineError("policy evaluation returned an object with a key that is not a string")
    return key, _node(rs.rego_node_get(impl, 1))


def read_output(impl: int) -> Any:
    """The first expression of a query's output, read from its typed nodes; None when undefined.

    The text form must say the same (round trip), else the result is refused: a difference means a string
    in it held characters rego-cpp did not escape."""
    text = rs.rego_output_string(impl)
    if not rs.rego_output_ok(impl):
        raise PolicyEngineError(f"policy evaluation failed: {text.strip()}")
    if text.strip() == "undefined":
        return None
    terms = rs.rego_output_expressions_at_index(impl, 0)
    value = _node(rs.rego_node_get(terms, 0)) if terms and rs.rego_node_size(terms) else None
    try:
        parsed = json.loads(text, strict=False)
        expressions = (parsed[0] if isinstance(parsed, list) else parsed)["expressions"]
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise PolicyEngineError("policy evaluation returned a result that does not round-trip") from exc
    if not expressions or expressions[0] != value:
        raise PolicyEngineError("policy evaluation returned a result that does not round-trip")
    return value


class CppProgram:
    """One policy version compiled by rego-cpp into a bundle; `evaluate` is safe from any thread."""

    runtime = "rego-cpp"
    _local = threading.local()  # one interpreter per thread, whatever the version (bundles are shared)

    def __init__(self, source: PolicySource, modules: dict[str, str] | None = None) -> None:
        self.source = source
        interpreter = new_interpreter()
        named = {str(source.root / name): text for name, text in (modules or source.policy_modules()).items()}
        try:
            interpreter.add_data(source.data)
            for name, text in named.items():
                interpreter.add_module(name, text)
            self.bundle = interpreter.build(None, [ENTRYPOINT])
        except (regopy.RegoError, ValueError) as exc:
            raise ConfigError(f"policy in {source.root} does not compile:\n{format_errors(str(exc), named)}") from exc

    def _interpreter(self) -> Any:
        interpreter = getattr(self._local, "interpreter", None)
        if interpreter is None:
            interpreter = self._local.interpreter = new_interpreter()
        return interpreter

    def evaluate(self, input_doc: dict[str, Any]) -> Any:
        _require_faithful(input_doc)
        interpreter = self._interpreter()
        given = to_input(input_doc)  # refuses NUL: rego-cpp ends strings there ("alice\0mallory" is "alice")
        try:
            interpreter.set_input(given)
            impl = rs.rego_bundle_query_entrypoint(interpreter._impl, self.bundle._impl, ENTRYPOINT)
        except (regopy.RegoError, ValueError) as exc:  # an unknown builtin can surface as JSONDecodeError
            raise PolicyEngineError(f"policy evaluation failed: {exc}") from exc
        try:
            return read_output(impl)
        finally:
            rs.rego_free_output(impl)


def query(source: PolicySource, text: str) -> Any:
    """Evaluate one query against every module (tests included) in a fresh interpreter (`gateway policy test`)."""
    interpreter = new_interpreter()
    interpreter.add_data(source.data)
    for name, body in source.modules.items():
        interpreter.add_module(str(source.root / name), body)
    impl = rs.rego_query(interpreter._impl, text)
    try:
        return read_output(impl)
    finally:
        rs.rego_free_output(impl)
