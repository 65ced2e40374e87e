#!/usr/bin/env python3
"""What PII inspection costs: the gateway's Inspector (inspect + redact) against stock Presidio, same texts.

Stock Presidio here is `AnalyzerEngine` with its default registry (every predefined recognizer for English)
on the same blank spaCy pipeline (stock would download a model; these machines cannot), so the comparison
is recognizers against recognizers. Texts mix prose with PII at a realistic density (one value per ~250
characters) and come in three sizes.

    python bench/pii_latency.py [--rounds 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

import spacy  # noqa: E402
from presidio_analyzer import AnalyzerEngine  # noqa: E402
from spacy.language import Language  # noqa: E402
from spacy.tokens import Doc  # noqa: E402

from gateway.pii.analyzer import Inspector  # noqa: E402
from gateway.pii.nlp import ModelNlpEngine  # noqa: E402
from gateway.pii.redactor import Pseudonyms, redact_spans  # noqa: E402
from gateway.pii.stream import StreamScrubber  # noqa: E402
from gateway.settings import PiiConfig  # noqa: E402

PROSE = (
    "Thanks for getting back to me about the renewal. We went through the proposal with the team and "
    "have a few questions on pricing and the rollout plan before we can sign. "
)
VALUES = ["jane.roe@example.com", "(415) 555-2671", "4111 1111 1111 1111", "536-22-8456", "10.1.2.3"]


@Language.component("bench_lower_lemma")
def _lower_lemma(doc: Doc) -> Doc:
    """Lemmas as lower-case words, so stock Presidio's context words work without a model."""
    for token in doc:
        token.lemma_ = token.lower_
    return doc


def blank_pipeline() -> ModelNlpEngine:
    nlp = spacy.blank("en")
    nlp.add_pipe("bench_lower_lemma")
    return ModelNlpEngine({"en": nlp})


def text_of(size: int) -> str:
    out, i = "", 0
    while len(out) < size:
        out += PROSE + f"Reach me at {VALUES[i % len(VALUES)]}. "
        i += 1
    return out[:size]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--cache", action="store_true", help="keep pii.cache_entries on (it answers repeated texts)")
    args = parser.parse_args()
    # the same text is analyzed every round: without this, the findings memo answers and analysis is not timed
    inspector = Inspector(PiiConfig() if args.cache else PiiConfig(cache_entries=0), key=b"bench")
    stock = AnalyzerEngine(nlp_engine=blank_pipeline(), supported_languages=["en"])
    print("size    gateway P50  gateway P99   stock P50   stock P99   speed-up  (ms; inspect + redact vs analyze)")
    for size in (200, 2_000, 20_000):
        text = text_of(size)
        inspector.analyze(text), stock.analyze(text, language="en")  # warm up: lazy metadata, regex caches
        ours, theirs = [], []
        for _ in range(args.rounds):
            started = time.perf_counter()
            hits = inspector.analyze(text)
            redact_spans(text, [(h.start, h.end, h.type) for h in hits], lambda e, v: Pseudonyms().placeholder(e, v))
            ours.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            stock.analyze(text, language="en")
            theirs.append((time.perf_counter() - started) * 1000)
        (o50, o99), (t50, t99) = percentiles(ours), percentiles(theirs)
        print(f"{size:>6}  {o50:>11.2f}  {o99:>11.2f}  {t50:>10.2f}  {t99:>10.2f}  {t50 / o50:>8.1f}x")
    stream_delay(inspector, text_of(2_000))


def stream_delay(inspector: Inspector, text: str, delta: int = 4) -> None:
    """A 2,000-character reply streamed in `delta`-character pieces through the look-behind: the time each
    piece costs, and how many characters are held back when it is released (what the agent waits for)."""

    def scrub(chunk: str) -> str:
        hits = inspector.analyze(chunk)
        return redact_spans(chunk, [(h.start, h.end, h.type) for h in hits], lambda e, v: f"<{e}>")

    window, costs, held = StreamScrubber(), [], []
    for i in range(0, len(text), delta):
        started = time.perf_counter()
        released = window.feed(text[i : i + delta])
        if released:
            scrub(released)
        costs.append((time.perf_counter() - started) * 1000)
        held.append(len(window.buffer))
    scrub(window.flush())
    c50, c99 = percentiles(costs)
    print(
        f"stream: {len(costs)} pieces of {delta} characters; per piece P50 {c50:.3f} ms, P99 {c99:.3f} ms; "
        f"held back {statistics.mean(held):.1f} characters on average, {max(held)} at most"
    )


if __name__ == "__main__":
    main()
