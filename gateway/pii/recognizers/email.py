"""Email addresses, with Presidio's pattern asked only of the words that hold an `@`.

Presidio's email pattern starts at every word boundary and costs a fifth of a millisecond per 1,000
characters whatever they hold; an address has no whitespace in it, so the words around each `@` are all it
needs to see. Results are the same: the pattern's word boundaries fall on the same characters.
"""

from __future__ import annotations

import re
from typing import Any

from presidio_analyzer import RecognizerResult
from presidio_analyzer.predefined_recognizers import EmailRecognizer

_SPACE = re.compile(r"\s")


def words_around(text: str, mark: str) -> list[tuple[int, int]]:
    """The spans of the whitespace-delimited words of `text` that contain `mark`, in order."""
    spans: list[tuple[int, int]] = []
    at = text.find(mark)
    while at >= 0:
        start = _word_start(text, at)
        found = _SPACE.search(text, at)
        end = found.start() if found else len(text)
        spans.append((start, end))
        at = text.find(mark, end)
    return spans


def _word_start(text: str, at: int) -> int:
    start = at
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    return start


class AtSignEmailRecognizer(EmailRecognizer):
    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: Any = None, regex_flags: Any = None
    ) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        for start, end in words_around(text, "@"):
            for result in super().analyze(text[start:end], entities, nlp_artifacts, regex_flags):
                result.start += start
                result.end += start
                results.append(result)
        return results
