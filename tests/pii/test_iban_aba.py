"""IBANs of every country in the SWIFT IBAN registry and ABA routing numbers are found by their checksums: each
country's structure generated with valid check digits, in running text, grouped and whole, is found; one digit
changed, it is not. A routing number needs its checksum, a Federal Reserve prefix and a word that names it; the
default policy redacts it like every other bank number."""

from __future__ import annotations

import json
import random
import string

import pytest

from gateway.pii.analyzer import Inspector
from gateway.pii.recognizers.aba import routing_number
from gateway.pii.recognizers.iban import FORMATS, OUTSIDE_REGISTRY, REGISTRY, TERRITORIES, characters, valid
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.source import load_source
from gateway.settings import PiiConfig
from tests.conftest import POLICIES, ROOT
from tests.helpers import documented_blocks

_CHOICES = {"[0-9]": string.digits, "[A-Z]": string.ascii_uppercase, "[A-Z0-9]": string.ascii_uppercase + string.digits}
_NUMBERS = str.maketrans({c: str(i) for i, c in enumerate(string.digits + string.ascii_uppercase)})


def check_digits(country: str, bban: str) -> str:
    return f"{98 - int((bban + country + '00').translate(_NUMBERS)) % 97:02d}"


def iban(country: str, rng: random.Random) -> str:
    """A valid IBAN of `country`: a random BBAN of its structure and the check digits that make it pass."""
    bban = "".join(rng.choice(_CHOICES[cls]) for cls in characters(FORMATS[country]))
    return country + check_digits(country, bban) + bban


def grouped(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def one_digit_changed(number: str, rng: random.Random) -> str:
    at = rng.choice([i for i, c in enumerate(number) if c.isdigit() and i >= 2])
    return number[:at] + rng.choice([d for d in string.digits if d != number[at]]) + number[at + 1 :]


@pytest.fixture(scope="module")
def inspector() -> Inspector:
    return Inspector(PiiConfig(), b"k" * 32)


def found(inspector: Inspector, text: str, kind: str) -> list[str]:
    return [text[h.start : h.end] for h in inspector.analyze(text) if h.type == kind]


def test_the_registry_has_every_country_swift_lists():
    assert len(REGISTRY) == 88
    newer = {"BI", "DJ", "FK", "LY", "MN", "NI", "OM", "RU", "SD", "SO", "ST", "SV", "YE"}  # not in Presidio's list
    assert newer <= set(REGISTRY)
    assert not set(TERRITORIES) & set(REGISTRY) and not set(OUTSIDE_REGISTRY) & set(REGISTRY)


@pytest.mark.parametrize(
    "example",
    [  # the registry's own examples
        "DE89370400440532013000",
        "GB29NWBK60161331926819",
        "FR1420041010050500013M02606",
        "NO9386011117947",
        "BE68539007547034",
        "BR1800360305000010009795493C1",
        "RU0204452560040702810412345678901",
        "LC55HEMM000100010012001200023015",
        "SC18SSCB11010000000000001497USD",
        "MU17BOMM0101101030300200000MUR",
    ],
)
def test_registry_examples_are_valid_and_found(inspector, example):
    assert valid(example)
    text = f"IBAN {grouped(example)}, or {example} whole."
    assert found(inspector, text, "IBAN_CODE") == [grouped(example), example]


@pytest.mark.parametrize("country", sorted(FORMATS))
def test_every_country_is_found_grouped_and_whole_and_not_with_a_digit_changed(inspector, country):
    rng = random.Random(country)
    for _ in range(3):
        number = iban(country, rng)
        assert len(number) == 4 + len(characters(FORMATS[country]))
        for shown in (number, grouped(number), number.lower()):
            text = f"Please send the refund to {shown} by Friday, thanks."
            assert found(inspector, text, "IBAN_CODE") == [shown], shown
        changed = one_digit_changed(number, rng)
        wrong = [changed, grouped(changed), number[:-1], grouped(number[:-1]), number + "7", grouped(number) + "7"]
        for shown in wrong:
            assert found(inspector, f"Please send the refund to {shown} by Friday.", "IBAN_CODE") == [], shown


def test_check_digits_outside_02_to_98_are_refused_though_the_remainder_fits():
    rng = random.Random(7)
    number = next(n for n in (iban("DE", rng) for _ in range(10_000)) if n[2:4] == "98")
    assert valid(number) and not valid(number[:2] + "01" + number[4:])  # 01 and 98 leave the same remainder


def test_an_iban_is_found_whole_among_other_numbers(inspector):
    text = "IBAN DE89 3704 0044 0532 0130 00 12 EUR, ref DE89370400440532013000/2024"
    assert found(inspector, text, "IBAN_CODE") == ["DE89 3704 0044 0532 0130 00", "DE89370400440532013000"]


def test_a_letter_in_a_digits_only_place_is_no_iban(inspector):
    assert valid("GB29NWBK60161331926819")
    assert found(inspector, "iban GB29NWBKA0161331926819 ok", "IBAN_CODE") == []


# each Federal Reserve prefix range's ends (00-12, 21-32, 61-72, 80) and a few banks' numbers
ROUTING = ["000000518", "011000015", "021000021", "061000010", "122105278", "231372691", "322271627", "611000017"]
ROUTING += ["720000005", "800000019"]


@pytest.mark.parametrize("number", ROUTING)
def test_a_routing_number_with_a_word_naming_it_is_found(inspector, number):
    assert routing_number(number)
    dashed = f"{number[:4]}-{number[4:8]}-{number[8]}"
    for text, value in [
        (f"Our bank's routing number is {number}.", number),
        (f"ABA: {number}", number),
        (f"wire it (RTN {dashed}) today", dashed),
        (f'{{"routing_number": "{number}", "account": "000123456789"}}', number),
        (f"use {number} (the ACH routing code) for deposits", number),
        (f'{{"bankRoutingNumber": "{number}"}}', number),
        (f"ABARouting={number}", number),
    ]:
        assert found(inspector, text, "ABA_ROUTING_NUMBER") == [value], text


def test_a_routing_number_without_a_word_naming_it_is_left_alone(inspector):
    for number in ROUTING:
        dashed = f"{number[:4]}-{number[4:8]}-{number[8]}"
        for text in (f"order {number} shipped", f"the database holds {number} rows", f"part no. {dashed}"):
            assert found(inspector, text, "ABA_ROUTING_NUMBER") == [], text


def test_a_bad_checksum_or_prefix_is_no_routing_number(inspector):
    bad = ["011000016", "021000022", "611000018"]  # the checksum fails
    bad += ["131000018", "201000016", "331000012", "501000017", "911000018"]  # it holds, the prefix is no bank's
    for number in bad:
        assert not routing_number(number), number
        assert found(inspector, f"routing number {number}", "ABA_ROUTING_NUMBER") == [], number


def test_the_default_policy_redacts_routing_numbers_and_ibans(inspector):
    text = "wire to routing number 021000021, IBAN DE89 3704 0044 0532 0130 00"
    findings = inspector.inspect([("messages[0]", 0, text)])
    assert {f.type for f in findings.items} == {"ABA_ROUTING_NUMBER", "IBAN_CODE"}
    unredacted = json.loads((POLICIES / "gateway/data.json").read_text())["unredacted_types"]
    assert "ABA_ROUTING_NUMBER" not in unredacted and "ABA_ROUTING_NUMBER" in inspector.supported
    doc = next(doc for kind, _, doc, _ in documented_blocks(ROOT / "docs/policy-input.md") if kind == "input")
    doc = {**doc, "pii": findings.summary(), "redactable": sorted(inspector.supported)}
    engine = EmbeddedEngine(load_source(POLICIES))
    decision = engine.evaluate_sync(engine._compiled, doc)
    assert decision["allow"] is True
    assert {"ABA_ROUTING_NUMBER", "IBAN_CODE"} <= set(decision["redact"])
    assert {"ABA_ROUTING_NUMBER", "IBAN_CODE", "US_BANK_NUMBER"} <= set(decision["redact_output"])
