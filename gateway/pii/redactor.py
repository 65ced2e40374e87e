"""The redaction modes, and the pseudonyms that are restored on the way back.

mask          every letter and digit becomes `*` (separators stay): `****@*******.***`
replace       a tag naming the type: `<EMAIL_ADDRESS>`
hash          the type and a keyed hash of the value: `<EMAIL_ADDRESS:5f1c0a9e2b7d>` (the same value, the
              same tag, unguessable without the key)
pseudonymize  a numbered placeholder, `<EMAIL_ADDRESS_1>`: the same value gets the same placeholder in
              every turn of a conversation (numbered by first appearance, and the history comes first),
              and placeholders in what comes back are replaced by the real values

>>> names = Pseudonyms()
>>> names.placeholder("PERSON", "Ada"), names.placeholder("PERSON", "Bob"), names.placeholder("PERSON", "Ada")
('<PERSON_1>', '<PERSON_2>', '<PERSON_1>')
>>> names.restore("Dear <PERSON_2>,")
'Dear Bob,'
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable

from gateway.model import RedactionMode

PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*?)_(\d+)>")
_ALNUM = re.compile(r"[A-Za-z0-9]")


class Pseudonyms:
    """The placeholders of one call, both ways."""

    def __init__(self) -> None:
        self.by_value: dict[tuple[str, str], str] = {}
        self.by_placeholder: dict[str, str] = {}
        self.counts: dict[str, int] = {}

    def placeholder(self, entity: str, value: str) -> str:
        key = (entity, value)
        if key not in self.by_value:
            self.counts[entity] = self.counts.get(entity, 0) + 1
            tag = f"<{entity}_{self.counts[entity]}>"
            self.by_value[key], self.by_placeholder[tag] = tag, value
        return self.by_value[key]

    def restore(self, text: str) -> str:
        if not self.by_placeholder or "<" not in text:
            return text
        return PLACEHOLDER.sub(lambda m: self.by_placeholder.get(m.group(0), m.group(0)), text)

    def __bool__(self) -> bool:
        return bool(self.by_placeholder)


def replacement(entity: str, value: str, mode: RedactionMode, key: bytes, pseudonyms: Pseudonyms) -> str:
    if mode == "mask":
        return _ALNUM.sub("*", value)
    if mode == "hash":
        return f"<{entity}:{hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:12]}>"
    if mode == "pseudonymize":
        return pseudonyms.placeholder(entity, value)
    return f"<{entity}>"


def redact_spans(text: str, spans: Iterable[tuple[int, int, str]], substitute: Callable[[str, str], str]) -> str:
    """`text` with each (start, end, entity) span replaced by `substitute(entity, value)`; spans do not overlap."""
    out, last = [], 0
    for start, end, entity in sorted(spans):
        out.append(text[last:start])
        out.append(substitute(entity, text[start:end]))
        last = end
    out.append(text[last:])
    return "".join(out)
