"""Cross-validation on the training split: how settings and the threshold were chosen without the held-out data.

`FOLDS` folds: each holds out one training variant of every attack category and a third of the training
benign contexts; a model fitted on the rest scores the held-out attacks inserted (start, middle, end) into
the held-out contexts, and the held-out contexts whole and as windows. `scripts/train-injection --validate`
prints true- and false-positive rates at several thresholds.

The threshold rule reads the false-positive rate of the whole texts and windows. A third rate is printed beside
it, not used by the rule: each held-out context with the first sentence of another inserted at start, middle
and end (the bench's `inserted` cut). It is higher, because a few sentences repeat across many samples.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from .corpus import HOST, POSITIONS, Attack, Benign, Split, all_segments, insert
from .detector import InjectionDetector
from .training import train

FOLDS = 3
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
WINDOW, STEP = 400, 200


def folds(
    split: Split,
) -> Iterator[tuple[tuple[Attack, ...], tuple[Attack, ...], tuple[Benign, ...], tuple[Benign, ...]]]:
    """(train attacks, validation attacks, train benign, validation benign) per fold."""
    seen: dict[str, int] = defaultdict(int)
    attack_fold = []
    for attack in split.train_attacks:
        attack_fold.append(seen[attack.category] % FOLDS)
        seen[attack.category] += 1
    for fold in range(FOLDS):
        fit_attacks = tuple(a for a, f in zip(split.train_attacks, attack_fold, strict=True) if f != fold)
        held_attacks = tuple(a for a, f in zip(split.train_attacks, attack_fold, strict=True) if f == fold)
        fit_benign = tuple(b for i, b in enumerate(split.train_benign) if i % FOLDS != fold)
        held_benign = tuple(b for i, b in enumerate(split.train_benign) if i % FOLDS == fold)
        yield fit_attacks, held_attacks, fit_benign, held_benign


def validate(split: Split) -> dict[float, tuple[float, float, float]]:
    """Threshold -> (TPR, FPR, FPR of the inserted cut) over all folds, scores pooled."""
    positive_scores: list[float] = []
    negative_scores: list[float] = []
    inserted_scores: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "weights.json"
        for fit_attacks, held_attacks, fit_benign, held_benign in folds(split):
            path.write_text(json.dumps(train(fit_attacks, fit_benign)), encoding="utf-8")
            detector = InjectionDetector(threshold=0.0, weights=path)
            positive_scores += _attack_scores(detector, held_attacks, held_benign)
            negative_scores += _benign_scores(detector, held_benign)
            inserted_scores += _inserted_scores(detector, held_benign)
    return {
        threshold: (
            _share(positive_scores, threshold),
            _share(negative_scores, threshold),
            _share(inserted_scores, threshold),
        )
        for threshold in THRESHOLDS
    }


def _attack_scores(detector: InjectionDetector, attacks: tuple[Attack, ...], hosts: tuple[Benign, ...]) -> list[float]:
    """For each insertion, the best score of a passage that overlaps the attack (0 if none does)."""
    scores = []
    for attack in attacks:
        for doc in (d for d in hosts if d.source == HOST[attack.kind]):
            for position in POSITIONS:
                sample, start, end = insert(doc.context, attack.text, position, doc.source)
                report = detector.scan([("sample", sample)])
                located = [p.score for p in report.passages if p.start < end and p.end > start]
                scores.append(max(located, default=0.0))
    return scores


def _benign_scores(detector: InjectionDetector, docs: tuple[Benign, ...]) -> list[float]:
    texts = [text for doc in docs for text in (doc.context, *doc.extras)]
    texts += [text[i : i + WINDOW] for text in list(texts) for i in range(0, max(len(text) - WINDOW, 0) + 1, STEP)]
    return [detector.scan([("sample", text)]).score for text in texts]


def _inserted_scores(detector: InjectionDetector, docs: tuple[Benign, ...]) -> list[float]:
    scores = []
    for doc in docs:
        for other in (d for d in docs if d is not doc and d.source == doc.source):
            sentence = next(iter(all_segments(other.context)), "")
            for position in POSITIONS:
                scores.append(detector.scan([("sample", insert(doc.context, sentence, position, doc.source)[0])]).score)
    return scores


def _share(scores: list[float], threshold: float) -> float:
    return sum(score >= threshold for score in scores) / len(scores) if scores else 0.0
