"""Canonical JSON: one byte string per value, whatever produced it, so hashes of actions agree.

Keys sorted, no insignificant whitespace, UTF-8 (not `\\u` escapes), integers as integers; what the receipt of
an approval is bound to and what the audit log will hash.

    >>> canonical({"b": 1, "a": [True, None, "é"]})
    b'{"a":[true,null,"\\xc3\\xa9"],"b":1}'
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def digest(value: Any) -> str:
    """The SHA-256 of `value`'s canonical JSON, in hex."""
    return hashlib.sha256(canonical(value)).hexdigest()
