"""ABA routing numbers (routing transit numbers): 9 digits, whole or as 4-4-1 with dashes (`0110-0001-5`), whose
first two digits are a Federal Reserve prefix (00-12, 21-32, 61-72, 80) and whose 3-7-1 weighted sum is a multiple
of 10, next to a word that says what they are (routing, ABA, RTN, transit, ACH, Fedwire).

A run of 9 digits is everywhere (ids, counts, timestamps' pieces) and one in ten passes the checksum, so the word
is required: a routing number without one is left alone. The word is matched whole (Presidio's context matching
takes any word holding it, which would read "aba" in "database"), among the 8 words before the number and the 3
after it.

    >>> routing_number("011000015"), routing_number("011000016"), routing_number("991000013")
    (True, False, False)
"""

from __future__ import annotations

import re
from typing import Any

from presidio_analyzer import Pattern, PatternRecognizer, RecognizerResult

PREFIXES = (range(13), range(21, 33), range(61, 73), range(80, 81))  # Federal Reserve routing symbols
WORDS = frozenset({"aba", "abarouting", "routing", "routingnumber", "rtn", "transit", "ach", "fedwire"})
BEFORE, AFTER = 8, 3  # words looked at on each side of the number
# a word of WORDS somewhere in a text: whether the recognizer need run at all (a cheap pre-filter)
HINT = re.compile(r"aba|routing|rtn|transit|ach|fedwire", re.IGNORECASE)
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")  # camelCase apart: "bankRoutingNumber", "ABARouting"
_NOT_DIGIT = re.compile(r"\D")


def routing_number(number: str) -> bool:
    """Whether `number` (9 digits, perhaps dashed) has a Federal Reserve prefix and a valid check digit."""
    digits = _NOT_DIGIT.sub("", number)
    if len(digits) != 9 or not any(int(digits[:2]) in prefix for prefix in PREFIXES):
        return False
    return sum(int(d) * w for d, w in zip(digits, (3, 7, 1) * 3, strict=True)) % 10 == 0


def named(text: str, start: int, end: int) -> bool:
    """Whether a word of WORDS is among the BEFORE words before `start` and the AFTER words after `end`."""
    lo, hi = max(0, start - 24 * BEFORE), min(len(text), end + 24 * AFTER)
    while lo > 0 and text[lo - 1].isalpha():  # whole words only ("re|ach" is no "ach")
        lo -= 1
    while hi < len(text) and text[hi].isalpha():
        hi += 1
    before = _WORD.findall(text, lo, start)[-BEFORE:]
    after = _WORD.findall(text, end, hi)[:AFTER]
    return any(word.lower() in WORDS for word in before + after)


class RoutingNumberRecognizer(PatternRecognizer):
    """ABA_ROUTING_NUMBER: a routing number (prefix, checksum) that a word nearby names as one."""

    PATTERNS = [
        # digits first (the regex engine skips other text quickly), then: not inside a longer word or number
        Pattern("ABA routing number", r"\d(?<![\w.+-]\d)\d{8}(?![\w]|[.-]\d)", 0.05),
        Pattern("ABA routing number (4-4-1)", r"\d(?<![\w.+-]\d)\d{3}-\d{4}-\d(?![\w]|[.-]\d)", 0.05),
    ]

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entity="ABA_ROUTING_NUMBER",
            name="RoutingNumberRecognizer",
            supported_language=supported_language,
            patterns=self.PATTERNS,
        )

    def validate_result(self, pattern_text: str) -> bool:
        return routing_number(pattern_text)

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: Any = None, regex_flags: Any = None
    ) -> list[RecognizerResult]:
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        return [r for r in results if r.score >= self.MAX_SCORE and named(text, r.start, r.end)]
