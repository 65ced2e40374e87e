"""Canonical JSON (RFC 8785 style): one byte string per value, whatever produced it, so hashes agree.

Object keys sorted by their UTF-16 code units, no insignificant whitespace, UTF-8 (not `\\u` escapes),
numbers as ECMAScript prints them (`5.0` and `5` are both `5`, `1e-07` is `1e-7`). What the receipt of an
approval is bound to and what each audit event's leaf hash is taken over.

    >>> canonical({"b": 1.0, "a": [True, None, "é", 1e21]})
    b'{"a":[true,null,"\\xc3\\xa9",1e+21],"b":1}'
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any


def canonical(value: Any) -> bytes:
    simple = _plain(value)
    if simple is not _UNSAFE:  # what the C encoder writes exactly as RFC 8785 does: one call, no walk in Python
        return json.dumps(simple, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    out: list[str] = []
    _write(value, out)
    return "".join(out).encode()


_UNSAFE: Any = object()


def _plain(value: Any) -> Any:
    """`value` with integral floats as ints, or `_UNSAFE` when `json.dumps` would not write it as RFC 8785 does:
    a float that Python prints otherwise than ECMAScript (below 1e-4 or from 1e16: exponents differ), a key
    that is not ASCII (UTF-16 order can differ from code point order), a key that is not a string."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:  # most of an event: first, by identity
        return value
    if kind is float:
        if value.is_integer():  # beyond 2**53 ECMAScript prints the shortest digits, then zeros: not int()'s
            return int(value) if abs(value) < 2**53 else _UNSAFE
        return value if 1e-4 <= abs(value) < 1e16 else _UNSAFE
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str or not key.isascii():
                return _UNSAFE
            plain = _plain(item)
            if plain is _UNSAFE:
                return _UNSAFE
            out[key] = plain
        return out
    if kind is list or kind is tuple:
        items = [_plain(item) for item in value]
        return _UNSAFE if _UNSAFE in items else items
    return _UNSAFE  # anything else, subclasses (a str enum) included: the walk writes them


def digest(value: Any) -> str:
    """The SHA-256 of `value`'s canonical JSON, in hex."""
    return hashlib.sha256(canonical(value)).hexdigest()


def _write(value: Any, out: list[str]) -> None:
    if value is None or isinstance(value, bool | str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(number(value))
    elif isinstance(value, dict):
        keys = sorted((_key(k) for k in value), key=lambda k: k[0].encode("utf-16-be", "surrogatepass"))
        out.append("{")
        for i, (key, original) in enumerate(keys):
            out.append("," if i else "")
            out.append(json.dumps(key, ensure_ascii=False) + ":")
            _write(value[original], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            out.append("," if i else "")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} is not JSON")


def _key(key: Any) -> tuple[str, Any]:
    if isinstance(key, str):
        return key, key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key), key  # as json.dumps writes it
    raise TypeError(f"object key {key!r} is not a string")


def number(x: float) -> str:
    """`x` as ECMAScript's Number.prototype.toString writes it (RFC 8785 section 3.2.2.3)."""
    if not math.isfinite(x):
        raise ValueError(f"{x} is not allowed in JSON")
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    mantissa, _, exp = repr(abs(x)).partition("e")  # repr: the shortest digits that read back as x
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    point = len(whole) + int(exp or 0) - (len(whole + frac) - len(digits))  # x = 0.<digits> * 10**point
    digits = digits.rstrip("0")
    k, n = len(digits), point
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    head = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{head}e{'+' if e > 0 else '-'}{abs(e)}"
