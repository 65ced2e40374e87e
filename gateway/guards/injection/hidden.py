"""Heuristic for text a person cannot see but a model reads: `hidden_unicode`.

- Unicode tag characters (U+E0000-U+E007F) mirror ASCII invisibly ("ASCII smuggling"). The one legitimate
  use is an emoji subdivision flag (U+1F3F4 followed by a few tag letters and U+E007F CANCEL TAG), which is
  left alone.
- Runs of zero-width and invisible format characters (ZWSP, ZWNJ, ZWJ, word joiner, BOM, invisible
  operators, bidirectional controls) can carry bits or hide words. A lone ZWJ inside an emoji sequence or a
  ZWNJ inside a Persian word is normal, so only runs of at least `ZERO_WIDTH_RUN` count.
- Runs of variation selectors beyond the one an emoji uses can carry bytes too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .hits import MAX_HITS, Hit

ZERO_WIDTH_RUN = 4

_INVISIBLE = "\u200b-\u200f\u2060-\u2064\u206a-\u206f\ufeff\u180e\u202a-\u202e\u2066-\u2069"
_VARIATION = "\ufe00-\ufe0f\U000e0100-\U000e01ef"
_ANY = re.compile(f"[{_INVISIBLE}{_VARIATION}\U000e0000-\U000e007f]")
_TAGS = re.compile("[\U000e0000-\U000e007f]+")
_FLAG = re.compile("\U0001f3f4[\U000e0020-\U000e007e]{1,8}\U000e007f")
_ZERO_WIDTH = re.compile(f"[{_INVISIBLE}]{{{ZERO_WIDTH_RUN},}}")
_SELECTORS = re.compile(f"[{_VARIATION}]{{{ZERO_WIDTH_RUN},}}")


def hidden_hits(text: str) -> Iterator[Hit]:
    if text.isascii() or not _ANY.search(text):
        return
    flags = {(match.start() + 1, match.end()) for match in _FLAG.finditer(text)}
    for count, match in enumerate(_TAGS.finditer(text)):
        if count >= MAX_HITS:
            break
        if match.span() not in flags:
            yield Hit(match.start(), match.end(), "hidden_unicode", 0.95 if len(match.group()) > 1 else 0.6)
    for pattern in (_ZERO_WIDTH, _SELECTORS):
        for count, match in enumerate(pattern.finditer(text)):
            if count >= MAX_HITS:
                break
            yield Hit(match.start(), match.end(), "hidden_unicode", 0.85)
