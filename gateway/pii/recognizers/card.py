"""Card numbers as the networks issue them: 12 to 19 digits, in any common grouping (spaces, dashes, none),
Luhn-checked, in a range a network issues (IIN ranges): Visa, Mastercard (51-55 and 2221-2720), American Express,
Diners Club, Discover, JCB (3528-3589, and 15-digit 2131/1800), UnionPay, Maestro (12-19 digits), Mir, RuPay,
Verve, Troy, UATP, Dankort, InterPayment and InstaPayment.

Presidio's own pattern knows the classic prefixes at 13-16 digits only (2-series Mastercard, 19-digit Visa and
Maestro, 15-digit JCB and others reached providers raw). This one finds every digit run of a card's length and
keeps those that pass Luhn and fall in an issued range, so a random long number (an order id, a timestamp) is
left alone unless it is both.

    >>> issued("2221000000000009"), issued("1733592000000")
    (True, False)
"""

from __future__ import annotations

import re

from presidio_analyzer import Pattern, PatternRecognizer

# (first digits, lengths): a prefix is a number, or a range "low-high" of numbers with the same digit count
RANGES: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("4", (13, 16, 19)),  # Visa (and Visa Electron, Dankort 4571)
    ("51-55", (16,)),  # Mastercard
    ("2221-2720", (16,)),  # Mastercard 2-series
    ("34", (15,)),  # American Express
    ("37", (15,)),
    ("300-305", (14, 15, 16, 17, 18, 19)),  # Diners Club
    ("36", (14, 15, 16, 17, 18, 19)),
    ("38-39", (14, 15, 16, 17, 18, 19)),
    ("6011", (16, 17, 18, 19)),  # Discover
    ("644-649", (16, 17, 18, 19)),
    ("65", (16, 17, 18, 19)),  # Discover, RuPay, Troy
    ("3528-3589", (16, 17, 18, 19)),  # JCB
    ("2131", (15,)),  # JCB (old)
    ("1800", (15,)),
    ("62", (16, 17, 18, 19)),  # UnionPay
    ("81", (16, 17, 18, 19)),  # UnionPay, RuPay
    ("82", (16,)),  # RuPay
    ("50", (12, 13, 14, 15, 16, 17, 18, 19)),  # Maestro, Verve, RuPay (508)
    ("56-69", (12, 13, 14, 15, 16, 17, 18, 19)),  # Maestro, InterPayment (636), InstaPayment (637-639)
    ("2200-2204", (16, 17, 18, 19)),  # Mir
    ("353", (16,)),  # RuPay (JCB co-branded)
    ("356", (16,)),
    ("9792", (16,)),  # Troy
    ("1", (15,)),  # UATP
)
_NOT_DIGIT = re.compile(r"\D")


def _prefixed(digits: str, prefix: str) -> bool:
    low, _, high = prefix.partition("-")
    head = digits[: len(low)]
    return low <= head <= (high or low) if len(head) == len(low) else False


def luhn(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char) * (2 if i % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def issued(number: str) -> bool:
    """Whether `number` (digits, perhaps grouped) is a card number a network could have issued."""
    digits = _NOT_DIGIT.sub("", number)
    if not 12 <= len(digits) <= 19 or not luhn(digits):
        return False
    return any(len(digits) in lengths and _prefixed(digits, prefix) for prefix, lengths in RANGES)


class IssuedCardRecognizer(PatternRecognizer):
    """CREDIT_CARD: a run of 12-19 digits, grouped by single spaces or dashes or not at all, kept when `issued`."""

    PATTERNS = [Pattern("card number (issued range, Luhn)", r"\b\d(?:[ -]?\d){11,18}\b", 0.3)]
    CONTEXT = ["credit", "card", "visa", "mastercard", "cc ", "amex", "discover", "jcb", "diners", "maestro", "debit"]

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entity="CREDIT_CARD",
            patterns=self.PATTERNS,
            context=self.CONTEXT,
            supported_language=supported_language,
            name="IssuedCardRecognizer",
        )

    def validate_result(self, pattern_text: str) -> bool:
        return issued(pattern_text)
