"""Phone numbers in the formats people write, valid or not.

Presidio's PhoneRecognizer keeps only numbers `phonenumbers` can validate for the configured regions, so
a number with an unassigned area code, a national format of another region, or an extension goes through
unredacted. A gateway that must not leak errs the other way: this recognizer takes digit groups joined by
the separators phone numbers use (7 to 15 digits, optional `+`, country or trunk prefix, extension), and
leaves out what is a date or a version; a plain run of digits counts only next to a word such as "phone".
"""

from __future__ import annotations

import re
from typing import Any

from presidio_analyzer import Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

GROUPED = (
    r"(?<![\w+.])"  # not inside a longer token
    r"(?:\+\d{1,3}[ .-]?|00\d{1,3}[ .-]?)?"  # +44 or 001-
    r"(?:\(\d{2,5}\)[ .-]?|\d{2,5}[ .-])"  # the first group, maybe in parentheses
    r"\d{2,8}(?:[ .-]\d{2,8}){0,3}"  # the rest, separated (on one line)
    r"(?:[ ]?(?:x|ext\.?)[ ]?\d{1,6})?"  # an extension
    r"(?![.-]?\d)(?!\w)"  # not followed by more digits, nor glued to a word
)
DATE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}\b|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$")
VERSION = re.compile(r"^\d{1,2}\.\d{1,3}\.\d{1,3}$")  # 4.2.1, not 438.812.1525


class LenientPhoneRecognizer(PatternRecognizer):
    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entity="PHONE_NUMBER",
            name="LenientPhoneRecognizer",
            supported_language=supported_language,
            patterns=[
                Pattern("grouped phone number", GROUPED, 0.4),
                # a bare run of digits is a phone number only when a context word says so (score 0.1 + 0.35)
                Pattern("digits next to a phone word", r"(?<![\w+.])\d{10,11}(?!\w)", 0.1),
            ],
            context=["phone", "call", "mobile", "cell", "tel", "telephone", "fax", "office", "reach", "contact"],
        )

    def invalidate_result(self, pattern_text: str) -> bool:
        number = pattern_text.split("x")[0].split("ext")[0]
        digits, groups = sum(c.isdigit() for c in number), len(re.findall(r"\d+", number))
        long_enough = 7 <= digits <= 15 or (digits == 6 and groups >= 3)  # `61 51 81`: a short local number
        return not long_enough or bool(DATE.match(pattern_text)) or bool(VERSION.match(pattern_text))


BARE_RUN = re.compile(r"(?<!\d)\d{7,15}(?!\d)")


class BareNumberPhoneRecognizer(PhoneRecognizer):
    """Presidio's validating phone matcher (`phonenumbers`), asked only where it adds something: a text
    with a bare run of 7 or more digits. Grouped numbers are the lenient recognizer's; skipping the matcher
    elsewhere saves about a third of the inspection time."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        if not BARE_RUN.search(text):
            return []
        return list(super().analyze(text, entities, nlp_artifacts))
