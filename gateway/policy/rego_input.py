"""The policy input as a regopy `Input`, built with rego-cpp's own C calls.

`regopy.Input(dict)` walks the value in Python through a wrapper per node (a string copied into a fresh
buffer, each return code checked by a function of its own): about 0.25 ms for the gateway's input, more than
the evaluation itself. This walks it once with the same C functions called directly, checks their codes
together, and refuses NUL on the way (rego-cpp ends strings at NUL: `"alice\\0mallory"` would compare as
`"alice"`), which a separate walk did before.

    >>> interpreter.set_input(to_input({"call": {"kind": "model"}}))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import regopy
from regopy import rego_shared

from gateway.errors import NulInInput, PolicyEngineError

_C = rego_shared.rego  # the ctypes library regopy loaded (argument and result types declared by regopy)
_NEW, _FREE = _C.regoNewInput, _C.regoFreeInput
_STR, _INT, _FLOAT, _BOOL, _NULL = (
    _C.regoInputString,
    _C.regoInputInt,
    _C.regoInputFloat,
    _C.regoInputBoolean,
    _C.regoInputNull,
)
_ITEM, _OBJECT, _ARRAY = _C.regoInputObjectItem, _C.regoInputObject, _C.regoInputArray


def to_input(value: Any) -> regopy.Input:
    """`value` (JSON-like) as an `Input`; NulInInput for a string or key holding NUL, PolicyEngineError when
    rego-cpp refuses a value."""
    handle = _NEW()
    try:
        failed = _add(handle, value)
    except BaseException:
        _FREE(handle)
        raise
    if failed:
        _FREE(handle)
        raise PolicyEngineError("the policy input could not be converted for the embedded engine")
    made = regopy.Input.__new__(regopy.Input)
    made._impl = handle  # freed by Input.__del__, as one regopy made
    return made


def _add(handle: int, value: Any) -> int:
    """Push `value`; the OR of the C calls' codes (0 when all succeeded)."""
    kind = type(value)
    if kind is str:
        if "\x00" in value:
            raise NulInInput()
        return int(_STR(handle, value.encode()))
    if value is True or value is False:
        return int(_BOOL(handle, value))
    if kind is int:
        return int(_INT(handle, value))
    if value is None:
        return int(_NULL(handle))
    if kind is float:
        return int(_FLOAT(handle, value))
    if isinstance(value, Mapping):
        failed = 0
        for key, item in value.items():
            failed |= _add(handle, key) | _add(handle, item) | _ITEM(handle)
        return failed | int(_OBJECT(handle, len(value)))
    if isinstance(value, list | tuple):
        failed = 0
        for item in value:
            failed |= _add(handle, item)
        return failed | int(_ARRAY(handle, len(value)))
    if isinstance(value, str | int | float):  # subclasses (an enum's value, ...): as their base type
        return _add(handle, (str if isinstance(value, str) else int if isinstance(value, int) else float)(value))
    raise PolicyEngineError(f"the policy input holds a {kind.__name__}, which is not JSON")
