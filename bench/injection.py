#!/usr/bin/env python3
"""Prompt-injection detector figures on held-out BIPIA data: true- and false-positive rates, and latency.

Nothing here was trained on: the split is `gateway/guards/injection/corpus.py`'s (per category 2 of 5 attack
variants held out, 15 of 50 email and 15 of 50 code contexts held out), and the shipped weights are fitted on
the rest by `scripts/train-injection`.

- positives: every held-out attack inserted at the start, the middle (the sentence or line break nearest the
  middle) and the end of every held-out context of its kind (text attacks into emails, code attacks into code
  answers, as BIPIA pairs them). A positive counts as found only if the report is flagged AND one of its
  passages overlaps the inserted attack.
- negatives (each sample counts once; a flagged report is a false positive):
  whole: each held-out context, and each held-out code row's code and error fields, as one text;
  windows: every paragraph of those texts and every 400-character window (step 200) of them;
  inserted: each held-out context with one sentence of another held-out context of its kind inserted at
  start, middle and end.
- leave-category-out: for each category, a model fitted without any of that category's attacks; TPR on all
  5 of its variants inserted as above (threshold unchanged).
- latency: `scan` of held-out texts cut or repeated to 2,000 characters, with and without an attack; P50/P99.

    python bench/injection.py [--data ../shared/data/injection] [--no-lco] [--rounds 20]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gateway.guards.injection import DEFAULT_THRESHOLD, InjectionDetector  # noqa: E402
from gateway.guards.injection.corpus import (  # noqa: E402
    HOST,
    POSITIONS,
    Attack,
    Benign,
    Split,
    all_segments,
    insert,
    load_split,
)
from gateway.guards.injection.training import train  # noqa: E402

DATA = REPO.parent / "shared/data/injection"
TPR_GOAL, FPR_GOAL = 0.85, 0.02
WINDOW, STEP = 400, 200


def hosts(split: Split, attack: Attack) -> list[Benign]:
    return [doc for doc in split.test_benign if doc.source == HOST[attack.kind]]


def positives(split: Split, attacks: tuple[Attack, ...]) -> Iterator[tuple[Attack, str, str, int, int]]:
    for attack in attacks:
        for doc in hosts(split, attack):
            for position in POSITIONS:
                sample, start, end = insert(doc.context, attack.text, position, doc.source)
                yield attack, position, sample, start, end


def found(detector: InjectionDetector, sample: str, start: int, end: int) -> bool:
    report = detector.scan([("sample", sample)])
    return report.flagged and any(p.start < end and p.end > start for p in report.passages)


def true_positives(detector: InjectionDetector, split: Split, attacks: tuple[Attack, ...]) -> dict[str, Any]:
    by_category: dict[tuple[str, str], list[bool]] = defaultdict(list)
    by_position: dict[str, list[bool]] = defaultdict(list)
    for attack, position, sample, start, end in positives(split, attacks):
        hit = found(detector, sample, start, end)
        by_category[(attack.kind, attack.category)].append(hit)
        by_position[position].append(hit)
    every = [hit for hits in by_position.values() for hit in hits]
    return {"category": by_category, "position": by_position, "all": every}


def benign_texts(split: Split) -> list[tuple[str, str]]:
    return [(doc.source, text) for doc in split.test_benign for text in (doc.context, *doc.extras)]


def windows(text: str) -> Iterator[str]:
    for paragraph in text.split("\n\n"):
        if paragraph.strip():
            yield paragraph
    for start in range(0, max(len(text) - WINDOW, 0) + 1, STEP):
        yield text[start : start + WINDOW]


def negatives(split: Split) -> dict[str, list[str]]:
    texts = benign_texts(split)
    inserted = []
    for doc in split.test_benign:
        for other in split.test_benign:
            if other is not doc and other.source == doc.source:
                sentence = next(iter(all_segments(other.context)), "")
                for position in POSITIONS:
                    inserted.append(insert(doc.context, sentence, position, doc.source)[0])
    return {
        "whole": [text for _, text in texts],
        "windows": [window for _, text in texts for window in windows(text)],
        "inserted": inserted,
    }


def false_positives(detector: InjectionDetector, split: Split) -> dict[str, tuple[int, int]]:
    rates = {}
    for name, samples in negatives(split).items():
        flagged = sum(detector.scan([("sample", sample)]).flagged for sample in samples)
        rates[name] = (flagged, len(samples))
    return rates


def leave_category_out(split: Split, everything: tuple[Attack, ...]) -> dict[tuple[str, str], list[bool]]:
    results: dict[tuple[str, str], list[bool]] = {}
    categories = sorted({(a.kind, a.category) for a in everything})
    with tempfile.TemporaryDirectory() as folder:
        for kind, category in categories:
            kept = tuple(a for a in split.train_attacks if (a.kind, a.category) != (kind, category))
            path = Path(folder) / "weights.json"
            path.write_text(json.dumps(train(kept, split.train_benign)), encoding="utf-8")
            detector = InjectionDetector(weights=path)
            unseen = tuple(a for a in everything if (a.kind, a.category) == (kind, category))
            results[(kind, category)] = true_positives(detector, split, unseen)["all"]
    return results


def latency(detector: InjectionDetector, split: Split, rounds: int) -> dict[str, float]:
    texts = [_to_size(text, 2000) for _, text in benign_texts(split)]
    attacked = [
        insert(text, split.test_attacks[i % len(split.test_attacks)].text, "middle", "email")[0][:2000]
        for i, text in enumerate(texts)
    ]
    timings = []
    for _ in range(rounds):
        for text in texts + attacked:
            began = time.perf_counter()
            detector.scan([("sample", text)])
            timings.append((time.perf_counter() - began) * 1000)
    timings.sort()
    big = _adversarial()
    began = time.perf_counter()
    detector.scan([("big", big)])
    return {
        "p50": statistics.median(timings),
        "p99": timings[int(len(timings) * 0.99)],
        "samples": len(timings),
        "mb_seconds": time.perf_counter() - began,
    }


def _to_size(text: str, size: int) -> str:
    return (text + "\n") * (size // (len(text) + 1) + 1) if len(text) < size else text[:size]


def _adversarial() -> str:
    """1 MB built to stress the patterns: near-miss instructions, unclosed links, long base64, zero widths."""
    pieces = [
        "ignore " * 50,
        "![a](https://x.example/?" + "a" * 300,
        "QUJD" * 200,
        "\u200b" * 3 + "x",
        "<|im_start" * 20,
        "Please send the report. ",
    ]
    text = "".join(random.Random(27).choice(pieces) for _ in range(3000))
    return (text * (1_048_576 // len(text) + 1))[:1_048_576]


def rate(hits: list[bool]) -> str:
    return f"{sum(hits) / len(hits):.3f} ({sum(hits)}/{len(hits)})" if hits else "-"


def print_tables(
    tp: dict[str, Any], fp: dict[str, tuple[int, int]], lco: dict[Any, list[bool]], lat: dict[str, float]
) -> None:
    print(f"threshold {DEFAULT_THRESHOLD}; goal TPR >= {TPR_GOAL} at FPR <= {FPR_GOAL}\n")
    print("| attack (held-out variants) | kind | TPR | leave-category-out TPR |\n|---|---|---|---|")
    for (kind, category), hits in sorted(tp["category"].items()):
        print(f"| {category} | {kind} | {rate(hits)} | {rate(lco.get((kind, category), []))} |")
    every_lco = [hit for hits in lco.values() for hit in hits]
    print(f"| **all** | | **{rate(tp['all'])}** | **{rate(every_lco)}** |\n")
    print("| position | TPR |\n|---|---|")
    for position in POSITIONS:
        print(f"| {position} | {rate(tp['position'][position])} |")
    print("\n| benign samples (held-out) | FPR |\n|---|---|")
    for name, (flagged, total) in fp.items():
        print(f"| {name} | {flagged / total:.4f} ({flagged}/{total}) |")
    flagged, total = (sum(v[i] for v in fp.values()) for i in (0, 1))
    print(f"| **all** | **{flagged / total:.4f} ({flagged}/{total})** |\n")
    print(
        f"| latency per 2,000 characters | P50 {lat['p50']:.3f} ms | P99 {lat['p99']:.3f} ms | "
        f"{lat['samples']} scans |\n|---|---|---|---|"
    )
    print(f"| 1 MB adversarial text | {lat['mb_seconds']:.2f} s | | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the BIPIA files")
    parser.add_argument("--no-lco", action="store_true", help="skip the leave-category-out models")
    parser.add_argument("--rounds", type=int, default=20, help="latency rounds over the held-out texts")
    args = parser.parse_args()
    try:
        split = load_split(args.data)
    except FileNotFoundError as exc:
        sys.exit(f"bench/injection.py: {exc}")
    detector = InjectionDetector()
    tp = true_positives(detector, split, split.test_attacks)
    fp = false_positives(detector, split)
    everything = split.train_attacks + split.test_attacks
    lco = {} if args.no_lco else leave_category_out(split, everything)
    print_tables(tp, fp, lco, latency(detector, split, args.rounds))


if __name__ == "__main__":
    main()
