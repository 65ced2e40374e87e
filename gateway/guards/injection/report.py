"""What a scan found: flagged passages and the summary policies see as `input.injection`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_PASSAGES = 8
# The lowest of the thresholds tried (0.3 to 0.8 by 0.1) whose cross-validated false-positive rate on the
# training split is at most 0.02 (`scripts/train-injection --validate`); the held-out data played no part.
DEFAULT_THRESHOLD = 0.6


@dataclass(frozen=True, slots=True)
class Passage:
    """One flagged span of one part: `text[start:end]` of the part labelled `where`."""

    where: str
    start: int
    end: int
    score: float
    signals: tuple[str, ...]

    def document(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "start": self.start,
            "end": self.end,
            "score": self.score,
            "signals": list(self.signals),
        }


@dataclass(frozen=True, slots=True)
class InjectionReport:
    """The verdict on a set of parts; `document()` is exactly what a policy reads as `input.injection`.

    report = detector.scan([("mcp.result", text)])
    if report.flagged: ...   # report.passages say where to look
    """

    score: float
    where: tuple[str, ...]
    signals: tuple[str, ...]
    passages: tuple[Passage, ...]
    threshold: float = DEFAULT_THRESHOLD

    def document(self) -> dict[str, Any]:
        return {"score": self.score, "where": list(self.where), "signals": list(self.signals)}

    @property
    def flagged(self) -> bool:
        return self.score >= self.threshold


EMPTY = InjectionReport(score=0.0, where=(), signals=(), passages=())


def build_report(
    part_scores: list[tuple[str, float]], signals: set[str], passages: list[Passage], threshold: float
) -> InjectionReport:
    """Assemble a report from each part's (where, score), the signals that fired and every candidate passage."""
    part_scores = [(label, round(score, 3)) for label, score in part_scores]
    where: dict[str, None] = {}
    for label, score in part_scores:
        if score >= threshold:
            where.setdefault(label, None)
    top = max((score for _, score in part_scores), default=0.0)
    kept = sorted((p for p in passages if p.score >= threshold), key=lambda p: -p.score)[:MAX_PASSAGES]
    return InjectionReport(
        score=round(top, 3),
        where=tuple(where),
        signals=tuple(sorted(signals)),
        passages=tuple(kept),
        threshold=threshold,
    )
