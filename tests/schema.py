"""A strict check of a JSON value against a type the official SDKs generate from the providers' API specs.

The SDKs' pydantic models are lenient by design (extra keys allowed, values coerced, unknown `type`s
tolerated), so validating through them proves little. `problems` walks the type itself instead: a model
is an object whose keys must all be fields (by their wire name), whose required fields must all be there;
a union must match one member (for a discriminated one, the member its `type` names); a Literal must be
one of its values with the same JSON type; null only where the type allows None; no coercion (a string is
not a number, a bool is not an int).

    >>> from openai.types.responses import ResponseTextDeltaEvent
    >>> problems({"type": "response.output_text.delta"}, ResponseTextDeltaEvent)[0]
    "$: missing required key 'content_index'"
"""

from __future__ import annotations

import datetime
import types
import typing
from typing import Any, Literal, Union

from pydantic import BaseModel

JSON_SCALARS: dict[Any, tuple[type, ...]] = {
    str: (str,),
    int: (int,),
    float: (int, float),
    bool: (bool,),
    datetime.datetime: (str,),
    datetime.date: (str,),
}


# Keys the live API returns beyond the published schema, which the gateway repeats as the API does: the only
# unknown keys tolerated. (The Responses API's answers carry `store`, and agents read it back; the generated
# `Response` type does not declare it.)
BEYOND_SCHEMA: dict[str, frozenset[str]] = {"openai.types.responses.response.Response": frozenset({"store"})}


def assert_valid(value: Any, tp: Any) -> None:
    """Fail with every problem found when `value` does not match `tp` strictly."""
    found = problems(value, tp)
    assert not found, "\n".join(found[:20])


def problems(value: Any, tp: Any, path: str = "$") -> list[str]:
    """Every way `value` (parsed JSON) differs from `tp`; empty when it matches."""
    tp = _unwrap(tp)
    origin = typing.get_origin(tp)
    if tp is Any or tp is object:
        return []
    if tp is type(None):
        return [] if value is None else [f"{path}: expected null, got {_kind(value)}"]
    if origin is Union or origin is types.UnionType:
        return _union(value, typing.get_args(tp), path)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if any(value == a and type(value) is type(a) for a in allowed):
            return []
        return [f"{path}: {value!r} is not one of {list(allowed)[:8]}"]
    if value is None:
        return [f"{path}: null where {_name(tp)} is required"]
    if origin in (list, typing.List) or tp is list:  # noqa: UP006
        return _list(value, (typing.get_args(tp) or (Any,))[0], path)
    if origin in (dict, typing.Dict) or tp is dict:  # noqa: UP006
        return _dict(value, (typing.get_args(tp) or (str, Any))[-1], path)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _model(value, tp, path)
    return _scalar(value, tp, path)


def _unwrap(tp: Any) -> Any:
    """The type under `Annotated[...]` and type aliases."""
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif hasattr(tp, "__value__") and not isinstance(tp, type):  # a `type X = ...` alias
            tp = tp.__value__
        else:
            return tp


def _union(value: Any, members: tuple[Any, ...], path: str) -> list[str]:
    candidates = list(members)
    if isinstance(value, dict) and "type" in value and any(_type_literal(m) for m in members):
        # discriminated by `type`: only the members it names (and those that have no `type` to name)
        candidates = [m for m in members if _type_literal(m) is None or value["type"] in (_type_literal(m) or ())]
        if not candidates:
            return [f"{path}: no member of the union has type {value['type']!r}"]
    best: list[str] | None = None
    for member in candidates:
        found = problems(value, member, path)
        if not found:
            return []
        if best is None or len(found) < len(best):
            best = found
    return best or [f"{path}: matches no member of the union"]


def _is_model(tp: Any) -> bool:
    tp = _unwrap(tp)
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _type_literal(tp: Any) -> tuple[Any, ...] | None:
    tp = _unwrap(tp)
    if not _is_model(tp) or "type" not in tp.model_fields:
        return None
    annotation = _unwrap(tp.model_fields["type"].annotation)
    return typing.get_args(annotation) if typing.get_origin(annotation) is Literal else None


def _list(value: Any, item: Any, path: str) -> list[str]:
    if not isinstance(value, list):
        return [f"{path}: expected an array, got {_kind(value)}"]
    return [p for i, v in enumerate(value) for p in problems(v, item, f"{path}[{i}]")]


def _dict(value: Any, item: Any, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected an object, got {_kind(value)}"]
    return [p for k, v in value.items() for p in problems(v, item, f"{path}.{k}")]


def _model(value: Any, model: type[BaseModel], path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected a {model.__name__} object, got {_kind(value)}"]
    fields = {field.alias or name: field for name, field in model.model_fields.items()}
    beyond = BEYOND_SCHEMA.get(f"{model.__module__}.{model.__qualname__}", frozenset())
    found = [f"{path}: unknown key {k!r} for {model.__name__}" for k in value if k not in fields and k not in beyond]
    for key, field in fields.items():
        if key not in value:
            if field.is_required():
                found.append(f"{path}: missing required key {key!r}")
            continue
        found.extend(problems(value[key], field.annotation, f"{path}.{key}"))
    return found


def _scalar(value: Any, tp: Any, path: str) -> list[str]:
    accepted = JSON_SCALARS.get(tp)
    if accepted is None:
        return [f"{path}: the checker does not know the type {_name(tp)}"]
    if isinstance(value, bool) and tp is not bool:
        return [f"{path}: expected {_name(tp)}, got a boolean"]
    if not isinstance(value, accepted):
        return [f"{path}: expected {_name(tp)}, got {_kind(value)}"]
    return []


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", repr(tp))
