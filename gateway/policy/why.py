"""Why a policy decided as it did: the recorded input evaluated again by the version that decided, traced.

OPA's own engine (the embedded `opa-go` runtime) evaluates `data.gateway.decision` with its trace on; every rule
whose body held (a trace `Exit` at a file and line) fired. Each is shown with its location, its head as written,
and the value of the rule it belongs to, so `deny contains "..." if ...` at `decision.rego:42` tells which rule
produced which reason.

    >>> explained = explain(version.source(), event_policy["input"])  # doctest: +SKIP
    >>> [(f.location, f.rule) for f in explained.fired]  # doctest: +SKIP
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import ConfigError
from gateway.policy import go_rego
from gateway.policy.embedded import compile_source
from gateway.policy.engine import ENTRYPOINT
from gateway.policy.replay import decide
from gateway.policy.source import PolicySource

_LOCATION = re.compile(r"^(?P<file>.+\.rego):(?P<line>\d+)$")
_RULE_NAME = re.compile(r"^(?:default\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Fired:
    location: str  # file:line
    rule: str  # the rule's head, as written
    name: str  # the rule it belongs to (`deny`), whose whole value is in `Explained.values`


@dataclass
class Explained:
    answer: dict[str, Any]  # the decision as the gateway reads it (`gateway.audit.journal.answer`)
    fired: list[Fired] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)  # each fired rule's value, by name (functions: none)

    def document(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "fired": [{"location": f.location, "rule": f.rule, "value": self.values.get(f.name)} for f in self.fired],
        }


def explain(source: PolicySource, input_doc: dict[str, Any]) -> Explained:
    """`source`'s decision on `input_doc` and the rules that made it (needs the opa-go runtime)."""
    if not go_rego.AVAILABLE:
        raise ConfigError("policy why needs the opa-go runtime (opa-golib-python-bindings)")
    explained = Explained(answer=decide(compile_source(source, runtime="opa-go"), input_doc))
    engine = go_rego.tracing_engine(source)
    try:
        try:
            engine.eval_document(ENTRYPOINT.replace("/", "."), input_doc, trace=True)
        except go_rego.OpaUndefinedError:
            return explained
        package = ENTRYPOINT.split("/")[0]
        for event in engine.last_trace or []:
            fired = _fired(event, source)
            if fired is not None and fired not in explained.fired:
                explained.fired.append(fired)
        for name in dict.fromkeys(f.name for f in explained.fired):
            explained.values[name] = _value(engine, f"{package}.{name}", input_doc)
    finally:
        engine.close()
    explained.fired.sort(key=lambda f: (f.location.rsplit(":", 1)[0], int(f.location.rsplit(":", 1)[1])))
    return explained


def _fired(event: dict[str, Any], source: PolicySource) -> Fired | None:
    """A rule whose body held: an `Exit` of a rule (its node starts with the rule's name) at the line of its head,
    shown as that line is written in the module."""
    found = _LOCATION.match(str(event.get("location", "")))
    if event.get("op") != "Exit" or found is None or not event.get("query_id"):
        return None
    name = str(source.root / "x")[:-1]
    relative = found.group("file")[len(name) :] if found.group("file").startswith(name) else found.group("file")
    lines = source.modules.get(relative, "").splitlines()
    number = int(found.group("line"))
    written = lines[number - 1] if 0 < number <= len(lines) else ""
    rule = _RULE_NAME.match(written)
    node = str(event.get("node", ""))
    if rule is None or not re.match(rf"{re.escape(rule.group('name'))}\b", node):
        return None  # an expression's exit, not a rule's
    return Fired(f"{relative}:{number}", written.strip()[:160], rule.group("name"))


def _value(engine: Any, path: str, input_doc: dict[str, Any]) -> Any:
    try:
        return engine.eval_document(path, input_doc)
    except (go_rego.OpaUndefinedError, go_rego.OpaError):  # a function, or undefined for this input
        return None
