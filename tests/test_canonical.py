"""Canonical JSON (RFC 8785): the vectors of the RFC, and the fast path (one `json.dumps`) writing exactly what
the walk in Python writes, on random values of every shape."""

from __future__ import annotations

import json
import random

import pytest

from gateway import canonical as module
from gateway.canonical import canonical


def walked(value: object) -> bytes:
    out: list[str] = []
    module._write(value, out)
    return "".join(out).encode()


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (5.0, "5"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (123456789012345680000.0, "123456789012345680000"),
        (333333333.3333333, "333333333.3333333"),
        (9007199254740992.0, "9007199254740992"),
        (-1.5e-5, "-0.000015"),
        (4.35, "4.35"),
        (2**60 * 1.0, "1152921504606847000"),
    ],
)
def test_numbers_are_written_as_ecmascript_does(number, text):
    assert canonical(number) == text.encode() == walked(number)
    assert canonical({"n": number}) == b'{"n":' + text.encode() + b"}"


def test_keys_sort_by_utf16_code_units_as_the_rfc_example():
    keys = ["\u20ac", "\r", "\ufb33", "1", "\U0001f600", "\u0080", "\u00f6"]
    written = canonical(dict.fromkeys(keys, 0)).decode()
    order = [key for key, _ in json.loads(written, object_pairs_hook=list)]
    assert order == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_strings_escape_only_what_json_must():
    assert canonical('é\n"\\\x01\x7f\u2028') == '"é\\n\\"\\\\\\u0001\x7f\u2028"'.encode()


def test_non_json_values_are_refused_on_both_paths():
    for bad in (float("nan"), float("inf"), {1.5: "x"}, object()):
        with pytest.raises((ValueError, TypeError)):
            canonical(bad)


def _random_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.randrange(-(2**60), 2**60)
    if kind == 2:  # floats of every magnitude, integral or not
        return rng.choice([1, -1]) * rng.random() * 10 ** rng.randrange(-12, 25)
    if kind == 3:
        return float(rng.randrange(-(2**55), 2**55))
    if kind == 4:
        alphabet = 'ab\n\t"\\\x00\x1fé€\U0001f600\ufb33 '
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(6)))
    if kind == 5:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["a", "B", "z1", "\u00f6", "\U0001f600", "\ufb33", "\r", "stages", 7]
    return {rng.choice(keys): _random_value(rng, depth + 1) for _ in range(rng.randrange(5))}


def test_the_fast_path_writes_what_the_walk_writes():
    rng = random.Random(8785)
    fast = 0
    for _ in range(5000):
        value = _random_value(rng)
        assert canonical(value) == walked(value), value
        fast += module._plain(value) is not module._UNSAFE
    assert fast > 1000  # the comparison covered the fast path, not only the fallback
