"""IP addresses, with Presidio's IPv6 patterns asked only where an IPv6 address can be.

Presidio's IPv6 patterns cost ten times its IPv4 pattern on every text with a dotted number; a text without
two colons between hex digits holds no IPv6 address, so there the IPv4 pattern alone is asked.
"""

from __future__ import annotations

import re
from typing import Any

from presidio_analyzer import Pattern, RecognizerResult
from presidio_analyzer.predefined_recognizers import IpRecognizer

_IPV6 = re.compile(r"[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:")


class GatedIpRecognizer(IpRecognizer):
    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(supported_language=supported_language)
        ipv4: list[Pattern] = [p for p in self.patterns if p.name == "IPv4"]  # type: ignore[has-type]
        self._ipv4 = IpRecognizer(patterns=ipv4, supported_language=supported_language)
        self._ipv4._id = self.id  # its results are this recognizer's (for context scoring)

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: Any = None, regex_flags: Any = None
    ) -> list[RecognizerResult]:
        if _IPV6.search(text):
            return list(super().analyze(text, entities, nlp_artifacts, regex_flags))
        return list(self._ipv4.analyze(text, entities, nlp_artifacts, regex_flags))
