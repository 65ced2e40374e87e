"""IBANs of every country in the SWIFT IBAN registry, at the exact length and BBAN structure the registry gives,
written whole (`DE89370400440532013000`) or in groups of four (`DE89 3704 0044 0532 0130 00`, dashes too), upper
or lower case, kept when the ISO 7064 mod 97-10 check of ISO 13616 holds and the check digits are 02-98.

Presidio's IbanRecognizer (2.2.366) knows 76 countries: IBANs of Burundi, Djibouti, the Falklands, Mongolia,
Nicaragua, Oman, Russia, Sudan, Somalia, Sao Tome and Principe, El Salvador and Yemen reached providers raw. The
registry's territories that have their own country code (`GF`, `AX`, `JE`, ...) take the format of the country
whose scheme they use, and countries that issue IBANs outside the registry (most of West and Central Africa,
Algeria, Morocco, Iran, ...) are found by the formats their central banks publish.

    >>> valid("DE89 3704 0044 0532 0130 00"), valid("DE89 3704 0044 0532 0130 01")
    (True, False)
"""

from __future__ import annotations

import re
import string
from typing import Any

from presidio_analyzer import AnalysisExplanation, EntityRecognizer, RecognizerResult

# country -> BBAN structure in the registry's notation: `8!n` 8 digits, `4!a` 4 upper-case letters, `16!c` 16
# letters or digits. The SWIFT IBAN registry's 88 countries, Yemen the latest added.
REGISTRY: dict[str, str] = {
    "AD": "4!n4!n12!c",  # Andorra
    "AE": "3!n16!n",  # United Arab Emirates
    "AL": "8!n16!c",  # Albania
    "AT": "5!n11!n",  # Austria
    "AZ": "4!a20!c",  # Azerbaijan
    "BA": "3!n3!n8!n2!n",  # Bosnia and Herzegovina
    "BE": "3!n7!n2!n",  # Belgium
    "BG": "4!a4!n2!n8!c",  # Bulgaria
    "BH": "4!a14!c",  # Bahrain
    "BI": "5!n5!n11!n2!n",  # Burundi
    "BR": "8!n5!n10!n1!a1!c",  # Brazil
    "BY": "4!c4!n16!c",  # Belarus
    "CH": "5!n12!c",  # Switzerland
    "CR": "4!n14!n",  # Costa Rica
    "CY": "3!n5!n16!c",  # Cyprus
    "CZ": "4!n6!n10!n",  # Czechia
    "DE": "8!n10!n",  # Germany
    "DJ": "5!n5!n11!n2!n",  # Djibouti
    "DK": "4!n9!n1!n",  # Denmark
    "DO": "4!c20!n",  # Dominican Republic
    "EE": "2!n2!n11!n1!n",  # Estonia
    "EG": "4!n4!n17!n",  # Egypt
    "ES": "4!n4!n1!n1!n10!n",  # Spain
    "FI": "3!n11!n",  # Finland
    "FK": "2!a12!n",  # Falkland Islands
    "FO": "4!n9!n1!n",  # Faroe Islands
    "FR": "5!n5!n11!c2!n",  # France
    "GB": "4!a6!n8!n",  # United Kingdom
    "GE": "2!a16!n",  # Georgia
    "GI": "4!a15!c",  # Gibraltar
    "GL": "4!n9!n1!n",  # Greenland
    "GR": "3!n4!n16!c",  # Greece
    "GT": "4!c20!c",  # Guatemala
    "HR": "7!n10!n",  # Croatia
    "HU": "3!n4!n1!n15!n1!n",  # Hungary
    "IE": "4!a6!n8!n",  # Ireland
    "IL": "3!n3!n13!n",  # Israel
    "IQ": "4!a3!n12!n",  # Iraq
    "IS": "4!n2!n6!n10!n",  # Iceland
    "IT": "1!a5!n5!n12!c",  # Italy
    "JO": "4!a4!n18!c",  # Jordan
    "KW": "4!a22!c",  # Kuwait
    "KZ": "3!n13!c",  # Kazakhstan
    "LB": "4!n20!c",  # Lebanon
    "LC": "4!a24!c",  # Saint Lucia
    "LI": "5!n12!c",  # Liechtenstein
    "LT": "5!n11!n",  # Lithuania
    "LU": "3!n13!c",  # Luxembourg
    "LV": "4!a13!c",  # Latvia
    "LY": "3!n3!n15!n",  # Libya
    "MC": "5!n5!n11!c2!n",  # Monaco
    "MD": "2!c18!c",  # Moldova
    "ME": "3!n13!n2!n",  # Montenegro
    "MK": "3!n10!c2!n",  # North Macedonia
    "MN": "4!n12!n",  # Mongolia
    "MR": "5!n5!n11!n2!n",  # Mauritania
    "MT": "4!a5!n18!c",  # Malta
    "MU": "4!a2!n2!n12!n3!n3!a",  # Mauritius
    "NI": "4!a20!n",  # Nicaragua
    "NL": "4!a10!n",  # Netherlands
    "NO": "4!n6!n1!n",  # Norway
    "OM": "3!n16!c",  # Oman
    "PK": "4!a16!c",  # Pakistan
    "PL": "8!n16!n",  # Poland
    "PS": "4!a21!c",  # Palestine
    "PT": "4!n4!n11!n2!n",  # Portugal
    "QA": "4!a21!c",  # Qatar
    "RO": "4!a16!c",  # Romania
    "RS": "3!n13!n2!n",  # Serbia
    "RU": "9!n5!n15!c",  # Russia
    "SA": "2!n18!c",  # Saudi Arabia
    "SC": "4!a2!n2!n16!n3!a",  # Seychelles
    "SD": "2!n12!n",  # Sudan
    "SE": "3!n16!n1!n",  # Sweden
    "SI": "5!n8!n2!n",  # Slovenia
    "SK": "4!n6!n10!n",  # Slovakia
    "SM": "1!a5!n5!n12!c",  # San Marino
    "SO": "4!n3!n12!n",  # Somalia
    "ST": "4!n4!n11!n2!n",  # Sao Tome and Principe
    "SV": "4!a20!n",  # El Salvador
    "TL": "3!n14!n2!n",  # Timor-Leste
    "TN": "2!n3!n13!n2!n",  # Tunisia
    "TR": "5!n1!n16!c",  # Turkey
    "UA": "6!n19!c",  # Ukraine
    "VA": "3!n15!n",  # Vatican City
    "VG": "4!a16!n",  # British Virgin Islands
    "XK": "4!n10!n2!n",  # Kosovo
    "YE": "4!a4!n18!c",  # Yemen
}
# territories the registry lists under another country's scheme, when written with their own code
TERRITORIES: dict[str, str] = {
    **dict.fromkeys(("GF", "GP", "MQ", "RE", "PF", "TF", "YT", "NC", "BL", "MF", "PM", "WF"), "FR"),
    "AX": "FI",  # Aland Islands
    **dict.fromkeys(("IM", "JE", "GG"), "GB"),  # Isle of Man, Jersey, Guernsey
}
# IBANs issued outside the registry, in the structure their central banks publish (WAEMU and CEMAC members, ...)
OUTSIDE_REGISTRY: dict[str, str] = {
    **dict.fromkeys(("BF", "BJ", "CI", "ML", "NE", "SN", "TG"), "2!c22!n"),  # WAEMU (bank code CI008...)
    **dict.fromkeys(("CF", "CG", "CM", "GA", "GQ", "TD", "KM", "MG"), "23!n"),  # CEMAC, Comoros, Madagascar
    "GW": "2!c19!n",  # Guinea-Bissau
    "AO": "21!n",  # Angola
    "CV": "21!n",  # Cabo Verde
    "MZ": "21!n",  # Mozambique
    "DZ": "22!n",  # Algeria
    "IR": "22!n",  # Iran
    "MA": "24!n",  # Morocco
    "HN": "4!a20!n",  # Honduras
}
FORMATS: dict[str, str] = {
    **REGISTRY,
    **{code: REGISTRY[scheme] for code, scheme in TERRITORIES.items()},
    **OUTSIDE_REGISTRY,
}

_CLASSES = {"n": "[0-9]", "a": "[A-Z]", "c": "[A-Z0-9]"}
_PART = re.compile(r"(\d+)!([nac])")
_SEPARATORS = re.compile(r"[ -]")
_DIGITS = str.maketrans({c: str(i) for i, c in enumerate(string.digits + string.ascii_uppercase)})


def characters(bban: str) -> list[str]:
    """The character classes of a BBAN structure, one per character: `2!n1!a` -> `['[0-9]', '[0-9]', '[A-Z]']`."""
    return [_CLASSES[kind] for count, kind in _PART.findall(bban) for _ in range(int(count))]


def _pattern(bban: str) -> re.Pattern[str]:
    """The rest of an IBAN after its country code and check digits; a space or dash may end each group of 4."""
    parts = []
    for i, cls in enumerate(characters(bban), start=4):
        parts.append(("[ -]?" if i % 4 == 0 else "") + cls)
    return re.compile("".join(parts) + "(?![A-Za-z0-9])", re.IGNORECASE)


BBANS: dict[str, re.Pattern[str]] = {country: _pattern(bban) for country, bban in FORMATS.items()}
# check digits after a country code that starts a word: where an IBAN may be (digits first, so the regex engine
# skips text without any quickly)
CHECK_DIGITS = re.compile(r"[0-9]{2}(?<=[A-Za-z]{2}[0-9]{2})(?<![A-Za-z0-9][A-Za-z]{2}[0-9]{2})")


def valid(iban: str) -> bool:
    """Whether `iban` (grouped or not) passes ISO 13616's check: check digits 02-98, and the number made of the
    BBAN, the country code and the check digits (letters as 10-35) is 1 modulo 97."""
    compact = _SEPARATORS.sub("", iban).upper()
    if not compact.isalnum() or not compact.isascii() or not "02" <= compact[2:4] <= "98":
        return False
    return int((compact[4:] + compact[:4]).translate(_DIGITS)) % 97 == 1


def find(text: str) -> list[tuple[int, int]]:
    """The spans of the valid IBANs in `text`."""
    spans: list[tuple[int, int]] = []
    for check in CHECK_DIGITS.finditer(text):
        start = check.start() - 2
        bban = BBANS.get(text[start : check.start()].upper())
        match = bban.match(text, check.end()) if bban and (not spans or start >= spans[-1][1]) else None
        if match and valid(text[start : match.end()]):
            spans.append((start, match.end()))
    return spans


class RegistryIbanRecognizer(EntityRecognizer):
    """IBAN_CODE: an IBAN of a registry country at its exact structure, whole or in groups of four, that passes
    the mod 97 check (score 1.0: a random string passes one time in 97, after the structure)."""

    NAME = "RegistryIbanRecognizer"
    CONTEXT = ["iban", "bank", "account", "transfer", "wire", "sepa", "swift", "bic", "beneficiary", "payee"]

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entities=["IBAN_CODE"],
            name=self.NAME,
            supported_language=supported_language,
            context=self.CONTEXT,
        )

    def load(self) -> None:
        """Nothing to load: the formats are compiled at import."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        return [self._result(start, end) for start, end in find(text)]

    def _result(self, start: int, end: int) -> RecognizerResult:
        explanation = AnalysisExplanation(
            recognizer=self.NAME,
            original_score=self.MAX_SCORE,
            pattern_name="IBAN (registry structure, mod 97)",
            validation_result=True,
        )
        return RecognizerResult(
            "IBAN_CODE",
            start,
            end,
            self.MAX_SCORE,
            explanation,
            {RecognizerResult.RECOGNIZER_NAME_KEY: self.NAME, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id},
        )
