"""The Inspector: Presidio's analyzer, built once at start, with the recognizers the config asks for.

Built-ins go through the same registry as the gateway's own secret recognizers (recognizers/*.yaml) and the
operator's deny lists. Speed comes from not running what cannot match: each pattern family has a cheap
trigger (an `@` for email, enough digits for numbers), and only the recognizers whose trigger occurs in a
text are asked; phone numbers are parsed for the configured regions only; without an NER model the NLP
pipeline is a tokenizer.

    >>> inspector = Inspector(PiiConfig(), key=b"k")  # doctest: +SKIP
    >>> [(h.type, h.start, h.end) for h in inspector.analyze("mail me: a@example.com")]  # doctest: +SKIP
    [('EMAIL_ADDRESS', 9, 22)]
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # never fetch the suffix list (no network)

import yaml  # noqa: E402
from presidio_analyzer import (  # noqa: E402
    AnalyzerEngine,
    EntityRecognizer,
    Pattern,
    PatternRecognizer,
    RecognizerRegistry,  # noqa: E402
)
from presidio_analyzer.predefined_recognizers import (  # noqa: E402
    CryptoRecognizer,
    MacAddressRecognizer,
    SpacyRecognizer,
    UrlRecognizer,
    UsBankRecognizer,
    UsItinRecognizer,
    UsSsnRecognizer,
)

from gateway.errors import ConfigError  # noqa: E402
from gateway.pii.findings import Finding, Findings  # noqa: E402
from gateway.pii.nlp import FastContextEnhancer, build_nlp_engine  # noqa: E402
from gateway.pii.recognizers import aba, iban  # noqa: E402
from gateway.pii.recognizers.card import IssuedCardRecognizer  # noqa: E402
from gateway.pii.recognizers.email import AtSignEmailRecognizer, words_around  # noqa: E402
from gateway.pii.recognizers.ip import GatedIpRecognizer  # noqa: E402
from gateway.pii.recognizers.phone import BareNumberPhoneRecognizer, LenientPhoneRecognizer  # noqa: E402
from gateway.settings import PiiConfig  # noqa: E402

RECOGNIZERS = Path(__file__).parent / "recognizers"
NER_ENTITIES = ["PERSON", "LOCATION", "ORGANIZATION", "NRP"]
_NO_DIGITS = str.maketrans("", "", "0123456789")


def _digits(text: str) -> int:
    return len(text) - len(text.translate(_NO_DIGITS))


# prefilters: each starts with a rare character (a digit, a dot) so the regex engine skips text quickly
_MAC = re.compile(
    r"[:-](?<=[0-9A-Fa-f]{2}[:-])(?:[0-9A-Fa-f]{2}[:-]){3}[0-9A-Fa-f]{2}|\.(?<=[0-9A-Fa-f]{4}\.)[0-9A-Fa-f]{4}\."
)
_BARE_DIGITS = re.compile(r"\d{8}")
_DOMAIN = re.compile(r"\.(?<=\w\.)[A-Za-z]{2}")
_IPV4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d")
_IPV6 = re.compile(r"[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}")
_CARD = re.compile(r"(?:\d[ -]?){12,19}")
_IBAN = re.compile(r"\d\d(?<=[A-Za-z]{2}\d\d)[ -]?[A-Za-z0-9]{4}")


def _long_word(text: str) -> bool:
    """A run of 25 letters or digits (a wallet address) needs a word at least that long."""
    return any(len(word) >= 25 for word in text.split()) and re.search(r"[A-Za-z0-9]{25}", text) is not None


def _domain_outside_email(text: str) -> bool:
    """A domain (`x.yy`) in a word without an `@` (Presidio's URL pattern is by far its slowest)."""
    emails = words_around(text, "@")
    return any(not any(s <= m.start() < e for s, e in emails) for m in _DOMAIN.finditer(text))


# entity type -> does this text have what a match needs? (types not listed are always asked)
TRIGGERS: dict[str, Callable[[str, int], bool]] = {
    "EMAIL_ADDRESS": lambda text, digits: "@" in text,
    "PHONE_NUMBER": lambda text, digits: digits >= 6,
    "CREDIT_CARD": lambda text, digits: digits >= 12 and _CARD.search(text) is not None,
    "US_SSN": lambda text, digits: digits >= 9,
    "US_ITIN": lambda text, digits: digits >= 9,
    "US_BANK_NUMBER": lambda text, digits: digits >= 8 and _BARE_DIGITS.search(text) is not None,
    "ABA_ROUTING_NUMBER": lambda text, digits: digits >= 9 and aba.HINT.search(text) is not None,
    # a country code and check digits, then the BBAN's first group (asking the recognizer costs ~10 us a text)
    "IBAN_CODE": lambda text, digits: digits >= 4 and _IBAN.search(text) is not None,
    "IP_ADDRESS": lambda text, digits: (
        (digits >= 4 and _IPV4.search(text) is not None) or (":" in text and _IPV6.search(text) is not None)
    ),
    "MAC_ADDRESS": lambda text, digits: _MAC.search(text) is not None,
    "URL": lambda text, digits: _domain_outside_email(text),
    "CRYPTO": lambda text, digits: _long_word(text),
    "CONNECTION_STRING_PASSWORD": lambda text, digits: "://" in text,
    "PRIVATE_KEY": lambda text, digits: "PRIVATE KEY" in text,
    "JWT": lambda text, digits: "eyJ" in text,
    "BEARER_TOKEN": lambda text, digits: "earer " in text,
    "OPENAI_API_KEY": lambda text, digits: "sk-" in text,
    "ANTHROPIC_API_KEY": lambda text, digits: "sk-ant-" in text,
    "AWS_ACCESS_KEY": lambda text, digits: any(p in text for p in ("AKIA", "ASIA", "ABIA", "ACCA")),
    "GITHUB_TOKEN": lambda text, digits: "_" in text and ("gh" in text or "github_pat_" in text),
    "SLACK_TOKEN": lambda text, digits: "xox" in text or "hooks.slack.com" in text,
    "GOOGLE_API_KEY": lambda text, digits: "AIza" in text,
}


def _builtins(config: PiiConfig, lang: str) -> list[EntityRecognizer]:
    return [
        AtSignEmailRecognizer(supported_language=lang),
        BareNumberPhoneRecognizer(supported_language=lang, supported_regions=tuple(config.phone_regions)),
        LenientPhoneRecognizer(supported_language=lang),
        IssuedCardRecognizer(supported_language=lang),
        UsSsnRecognizer(supported_language=lang),
        UsItinRecognizer(supported_language=lang),
        UsBankRecognizer(supported_language=lang),
        aba.RoutingNumberRecognizer(supported_language=lang),
        iban.RegistryIbanRecognizer(supported_language=lang),
        GatedIpRecognizer(supported_language=lang),
        MacAddressRecognizer(supported_language=lang),
        UrlRecognizer(supported_language=lang),
        CryptoRecognizer(supported_language=lang),
    ]


def _from_yaml(path: Path, lang: str) -> list[EntityRecognizer]:
    """The recognizers of one of our YAML files (Presidio's form), for `lang`: secrets are not language-bound."""
    out: list[EntityRecognizer] = []
    for spec in yaml.safe_load(path.read_text())["recognizers"]:
        patterns = [Pattern(p["name"], p["regex"], p["score"]) for p in spec["patterns"]]
        out.append(
            PatternRecognizer(
                supported_entity=spec["supported_entity"],
                name=spec["name"],
                supported_language=lang,
                patterns=patterns,
                context=spec.get("context"),
                global_regex_flags=0,  # case matters in key prefixes (AKIA, sk-, ...)
            )
        )
    return out


def _occurrences(text: str, value: str) -> list[int]:
    found, start = [], text.find(value)
    while value and start >= 0:
        found.append(start)
        start = text.find(value, start + 1)
    return found


# where a value of some supported type may be: digits, an @, a URL or domain, a key's prefix, a PEM header
TRIGGER_PATTERN = (
    r"\d+|@|://|www\.|\.(?<=\w\.)[A-Za-z]{2}|sk-|AKIA|ASIA|ABIA|ACCA|gh[pousr]_|github_pat_|xox[abposr]-|AIza|eyJ"
    r"|[Bb]earer |PRIVATE KEY"
)
MARGIN = 40  # characters of context kept on each side of a trigger (Presidio looks 5 words either side)


_SPACE = re.compile(r"\s")


def _windows(text: str, candidates: re.Pattern[str]) -> list[tuple[int, int]]:
    """Spans of `text` around its triggers, widened to whole words and merged; all of it when that is most."""
    spans: list[tuple[int, int]] = []
    for match in candidates.finditer(text):
        start, end = match.start() - MARGIN, match.end() + MARGIN
        if spans and end <= spans[-1][1]:
            continue  # inside the last window already
        if spans and start <= spans[-1][1]:
            start = spans.pop()[0]
        else:
            start = max(0, start)
            while start > 0 and not text[start - 1].isspace():
                start -= 1
        space = _SPACE.search(text, end) if end < len(text) else None
        spans.append((start, space.start() if space else len(text)))
    if sum(e - s for s, e in spans) > 0.7 * len(text):
        return [(0, len(text))]
    return spans


SEPARATOR = "\n\n\n"


def _join(text: str, windows: list[tuple[int, int]]) -> tuple[str, list[int]]:
    """The windows' texts joined by blank lines, and where each starts in the joined text."""
    starts, position = [], 0
    for start, end in windows:
        starts.append(position)
        position += end - start + len(SEPARATOR)
    return SEPARATOR.join(text[start:end] for start, end in windows), starts


@dataclass(frozen=True, slots=True)
class Hit:
    type: str
    start: int
    end: int
    score: float
    recognizer: str


# extensions of files that agents name all the time (`README.md`, `setup.py`, `run.sh`): a bare name ending in one
# is a file, not a web address, even where the extension is also a country's domain (.md Moldova, .py Paraguay)
FILE_EXTENSIONS = frozenset(
    "md mdx py pyi pyc ipynb sh bash zsh rs go js mjs cjs ts tsx jsx rb pl pm php java kt kts swift c h cc cpp hpp "
    "cs fs hs ml mli lua r dart zig nim ex exs erl hrl el clj scala sql txt rst tex json jsonl yaml yml toml ini cfg "
    "conf env lock log csv tsv xml html htm css scss sass less svg png jpg jpeg gif webp ico pdf zip gz tgz tar bz2 "
    "xz bak tmp diff patch mk cmake gradle bat ps1 vue svelte wasm so dll exe bin dat db sqlite proto graphql".split()
)
# role addresses that stand for a system, never a person
NO_REPLY = re.compile(r"(?:no-?reply|do-?not-?reply|mailer-daemon|postmaster|notifications?)@", re.IGNORECASE)
_WORD_CHAR = re.compile(r"[\w-]")
# a piece of a hex id, between hyphen-joined hex groups ("01a25162-7971-7342-ba64-b0341d13795c")
_JOINED_BEFORE, _JOINED_AFTER = re.compile(r"[0-9a-f]{4}-$"), re.compile(r"-[0-9a-f]{4}")
_VERSION_BEFORE = re.compile(r"(?:versions?\s?[=:]?\s?|sections?\W{0,3}|§\s?|\bv)$", re.IGNORECASE)
_DECIMAL = re.compile(r"[+-]?\d+\.\d+")  # one point between digits: a measure, a coordinate, not a phone number
_OPERATOR_BEFORE = re.compile(r"[*/%^&|=]\s?$")  # an operand in code: `h * 3644798167`
# a quantity, not a phone number: digits followed by a unit ("250-30000 ms", "1024 bytes")
_UNIT_AFTER = re.compile(
    r"\s?(?:ms|us|ns|s|sec|secs|seconds?|minutes?|hours?|days?|px|em|rem|%|bytes?|[KMGT]i?B|tokens?|chars?|"
    r"characters?|lines?|items?|rows?|times?)\b"
)


def _plausible(text: str, hit: Hit) -> bool:
    """Whether a hit is what it claims. A web address without a scheme or `www.` must stand as a word of its own
    (not `google.ge` cut out of `google.generativeai`, or `index.ht` out of `index.html`) and not end in a file
    extension (`CLAUDE.md`), nor be called like code (`Date.now()`); a no-reply sender is not personal data; a
    number with a unit after it ("250-30000 ms") is a quantity, not a phone number."""
    value = text[hit.start : hit.end]
    if hit.type == "EMAIL_ADDRESS":
        return NO_REPLY.match(value) is None
    if hit.type == "PHONE_NUMBER":  # a quantity, a decimal, an operand, or a piece of an id ("01a25162-7971-...")
        joined = _JOINED_BEFORE.search(text, max(0, hit.start - 5), hit.start) and _JOINED_AFTER.match(text, hit.end)
        operand = _OPERATOR_BEFORE.search(text, max(0, hit.start - 2), hit.start)
        quantity = _UNIT_AFTER.match(text, hit.end) or _DECIMAL.fullmatch(value)
        return joined is None and operand is None and quantity is None
    if hit.type == "IP_ADDRESS":  # a dotted version is no address: "cc_version=2.1.197.216", "v1.2.3.4"
        return _VERSION_BEFORE.search(text, max(0, hit.start - 12), hit.start) is None
    if hit.type != "URL" or "://" in value or value.lower().startswith("www."):
        return True
    after = text[hit.end : hit.end + 1]
    before = text[hit.start - 1 : hit.start] if hit.start else ""
    if (after and _WORD_CHAR.match(after)) or (before and _WORD_CHAR.match(before)) or before in (".", "@"):
        return False  # cut out of a longer word, or an address's domain
    if after == "(":
        return False  # a call in code: `Date.now()`
    host = value.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return host.rsplit(".", 1)[-1].lower() not in FILE_EXTENSIONS


def _without_overlaps(hits: list[Hit]) -> list[Hit]:
    """Overlapping hits keep the surest (then the longest): a URL inside an email is the email."""
    kept: list[Hit] = []
    for hit in sorted(hits, key=lambda h: (-h.score, h.start - h.end)):
        if all(hit.end <= k.start or hit.start >= k.end for k in kept):
            kept.append(hit)
    return sorted(kept, key=lambda h: h.start)


CACHED_FROM = 256  # characters: a shorter text (a streamed delta, a name) is analyzed faster than remembered


class _Remembered:
    """The hits of texts analyzed before, keyed by a 128-bit digest of the text (no text is kept), the least
    recently used dropped past `size`. Shared by the event loop and the threads long texts are scrubbed on."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._hits: OrderedDict[bytes, tuple[Hit, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: bytes) -> tuple[Hit, ...] | None:
        with self._lock:
            hits = self._hits.get(key)
            if hits is not None:
                self._hits.move_to_end(key)
            return hits

    def put(self, key: bytes, hits: tuple[Hit, ...]) -> None:
        with self._lock:
            self._hits[key] = hits
            while len(self._hits) > self.size:
                self._hits.popitem(last=False)


class Inspector:
    def __init__(self, config: PiiConfig, key: bytes) -> None:
        # Presidio logs the texts it analyzes at DEBUG: never let it, whatever level the gateway runs at
        logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)
        self.config = config
        self.key = key
        registry = RecognizerRegistry(supported_languages=config.languages)
        for lang in config.languages:
            for recognizer in _builtins(config, lang):
                registry.add_recognizer(recognizer)
            for path in sorted(RECOGNIZERS.glob("*.yaml")):
                for recognizer in _from_yaml(path, lang):
                    registry.add_recognizer(recognizer)
            for entity, values in config.deny_list.items():
                registry.add_recognizer(PatternRecognizer(entity, supported_language=lang, deny_list=values))
            if config.nlp_model:
                registry.add_recognizer(SpacyRecognizer(supported_language=lang, supported_entities=NER_ENTITIES))
        nlp = build_nlp_engine(config.languages, config.nlp_model)
        self.analyzer = AnalyzerEngine(
            registry=registry,
            nlp_engine=nlp,
            supported_languages=config.languages,
            # context words count after a value too ("3732695155 (fax)"): Presidio's default looks only before
            context_aware_enhancer=FastContextEnhancer(
                context_similarity_factor=0.35, min_score_with_context_similarity=0.4, context_suffix_count=2
            ),
        )
        known = sorted({e for r in registry.recognizers for e in r.supported_entities})
        unknown = sorted(set(config.entities or []) - set(known))
        if unknown:
            raise ConfigError(f"pii.entities: no recognizer finds {', '.join(unknown)} (known: {', '.join(known)})")
        self.entities: list[str] = list(config.entities or known)
        deny = "|".join(re.escape(v) for values in config.deny_list.values() for v in values)
        self._candidates = re.compile(TRIGGER_PATTERN + (f"|{deny}" if deny else ""))
        self._remembered = _Remembered(config.cache_entries) if config.cache_entries else None

    @property
    def supported(self) -> frozenset[str]:
        return frozenset(self.entities)

    def value_hash(self, value: str) -> str:
        return hmac.new(self.key, value.encode(), hashlib.sha256).hexdigest()[:16]

    def _wanted(self, text: str) -> list[str]:
        digits = _digits(text)
        return [e for e in self.entities if (trigger := TRIGGERS.get(e)) is None or trigger(text, digits)]

    def analyze(self, text: str) -> list[Hit]:
        """Every finding in `text` at or above the score threshold, overlaps resolved. A text of `CACHED_FROM`
        characters or more that this Inspector (so this config) analyzed before is answered from memory: an
        agent resends its conversation each turn."""
        if self._remembered is None or len(text) < CACHED_FROM:
            return self._fresh(text)
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        hits = self._remembered.get(key)
        if hits is None:
            hits = tuple(self._fresh(text))
            self._remembered.put(key, hits)
        return list(hits)

    def _fresh(self, text: str) -> list[Hit]:
        """`analyze` without the memory.

        Without an NER model every value has a trigger (a digit, an `@`, a key prefix, ...), so only windows
        around triggers, with enough margin for context words, go to Presidio; prose without any is skipped.
        """
        if not text.strip():
            return []
        windows = [(0, len(text))] if self.config.nlp_model else _windows(text, self._candidates)
        if windows == [(0, len(text))]:
            hits = self._analyze(text, 0)
        else:  # one analysis of the windows joined by blank lines: Presidio's per-call cost is paid once
            joined, starts = _join(text, windows)
            hits = []
            for hit in self._analyze(joined, 0):
                i = bisect.bisect_right(starts, hit.start) - 1
                shift = windows[i][0] - starts[i]
                if hit.end - starts[i] <= windows[i][1] - windows[i][0]:  # within one window
                    hits.append(Hit(hit.type, hit.start + shift, hit.end + shift, hit.score, hit.recognizer))
        return _without_overlaps([h for h in self._not_allowed(text, hits) if _plausible(text, h)])

    def _analyze(self, text: str, offset: int) -> list[Hit]:
        wanted = self._wanted(text)
        if not wanted:
            return []
        return [
            Hit(
                r.entity_type,
                r.start + offset,
                r.end + offset,
                r.score,
                (r.recognition_metadata or {}).get("recognizer_name", ""),
            )
            for lang in self.config.languages
            for r in self.analyzer.analyze(
                text, language=lang, entities=wanted, score_threshold=self.config.score_threshold
            )
        ]

    def _not_allowed(self, text: str, hits: list[Hit]) -> list[Hit]:
        """Drop hits inside an allow-listed value (and so a URL inside an allowed address too)."""
        allowed = [
            (start, start + len(value)) for value in self.config.allow_list for start in _occurrences(text, value)
        ]
        return [h for h in hits if not any(a <= h.start and h.end <= b for a, b in allowed)]

    def inspect(self, texts: list[tuple[str, int, str]]) -> Findings:
        """Findings in (where, index, text) segments; past `max_chars` the rest is not inspected."""
        budget, items, truncated = self.config.max_chars, [], False
        for segment, (where, index, text) in enumerate(texts):
            if len(text) > budget:
                text, truncated = text[:budget], True
            budget -= len(text)
            items.extend(self.findings(text, where, index, segment))
            if truncated:
                break
        return Findings(tuple(items), truncated)

    def findings(self, text: str, where: str, index: int, segment: int = 0, offset: int = 0) -> list[Finding]:
        """The findings in one text, positioned `offset` characters further (its place in a longer one)."""
        return [
            Finding(
                hit.type,
                where,
                index,
                hit.start + offset,
                hit.end + offset,
                hit.score,
                hit.recognizer,
                self.value_hash(text[hit.start : hit.end]),
                segment,
            )
            for hit in self.analyze(text)
        ]
