"""Every card number a network issues is found: each IIN range of `gateway.pii.recognizers.card` at each of its
lengths, with a valid check digit, in running text and in the common groupings; numbers that fail Luhn or fall
outside every range (timestamps, order ids) are left alone."""

from __future__ import annotations

import random

import pytest

from gateway.pii.analyzer import Inspector
from gateway.pii.recognizers.card import RANGES, issued, luhn
from gateway.settings import PiiConfig


def with_check_digit(body: str) -> str:
    for digit in "0123456789":
        if luhn(body + digit):
            return body + digit
    raise AssertionError("no check digit")


def cards(rng: random.Random) -> list[str]:
    """A number for each range's low and high end at each of its lengths."""
    out = []
    for prefix, lengths in RANGES:
        low, _, high = prefix.partition("-")
        for start in {low, high or low}:
            for length in lengths:
                body = start + "".join(rng.choice("0123456789") for _ in range(length - len(start) - 1))
                out.append(with_check_digit(body))
    return out


def grouped(number: str, style: str) -> str:
    if style == "none":
        return number
    sep = " " if style == "spaces" else "-"
    return sep.join(number[i : i + 4] for i in range(0, len(number), 4))


@pytest.fixture(scope="module")
def inspector() -> Inspector:
    return Inspector(PiiConfig(), b"k" * 32)


@pytest.mark.parametrize("style", ["none", "spaces", "dashes"])
def test_every_issued_range_and_length_is_found_in_running_text(inspector, style):
    numbers = cards(random.Random(21))
    assert len(numbers) > 100 and all(issued(n) for n in numbers)
    missed = []
    for number in numbers:
        shown = grouped(number, style)
        text = f"Please charge {shown} for the order, thanks."
        found = [text[h.start : h.end] for h in inspector.analyze(text) if h.type == "CREDIT_CARD"]
        if found != [shown]:
            missed.append((shown, found))
    assert not missed, missed[:10]


def test_numbers_that_are_not_cards_are_left_alone(inspector):
    not_cards = [
        "1733592000000",  # a timestamp in milliseconds
        "4111111111111112",  # fails Luhn
        "7000000000000000",  # no network issues 7
        "123456789012",  # an order id
    ]
    for number in not_cards:
        text = f"reference {number} noted"
        assert [h for h in inspector.analyze(text) if h.type == "CREDIT_CARD"] == [], number
