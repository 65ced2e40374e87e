"""The detector: heuristics and the model over each part's sentences, combined into one report.

Each part's text is cut into sentence- or line-sized segments. A segment's score is the noisy-or of the
model's probability and the strongest hit of each heuristic signal that overlaps it; a part's score is its
best segment's. Hits that overlap no segment stand as passages of their own. The model's probability is the
higher of the segment's and of its trailing clauses' (`trailing_clauses`), so a request appended to text cut off
mid-sentence is scored on its own words.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from pathlib import Path

from .encoded import encoded_hits
from .exfiltration import exfiltration_hits
from .hidden import hidden_hits
from .hits import Cues, Hit
from .instructions import instruction_hits, role_spoof_hits
from .model import WEIGHTS, LinearModel, logistic
from .report import DEFAULT_THRESHOLD, EMPTY, InjectionReport, Passage, build_report
from .segments import segments, trailing_clauses

MODEL_FIRES = 0.5  # the `model` signal is named when the model alone gives a segment this much
MAX_PART = 1_048_576  # characters of one part that are scanned; the rest is not read


class InjectionDetector:
    """Scores untrusted text for prompt injection.

    detector = InjectionDetector()
    report = detector.scan([("mcp.result", tool_output)])
    report.document()   # {"score": 0.97, "where": ["mcp.result"], "signals": ["instruction", "model"]}
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, weights: Path | None = None) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be within 0..1, not {threshold}")
        self.threshold = threshold
        self._model = LinearModel.load(weights or WEIGHTS)

    def scan(self, parts: Iterable[tuple[str, str]]) -> InjectionReport:
        part_scores: list[tuple[str, float]] = []
        signals: set[str] = set()
        passages: list[Passage] = []
        for where, text in parts:
            score, found = self._scan_part(where, text[:MAX_PART])
            part_scores.append((where, score))
            for passage in found:
                signals.update(passage.signals)
            passages += found
        if not part_scores:
            return EMPTY
        return build_report(part_scores, signals, passages, self.threshold)

    def judge(self, text: str) -> float:
        """How much a short text reads as an instruction to the assistant: the best segment's score."""
        cues = Cues.of(text)
        hits = [*instruction_hits(text, cues), *role_spoof_hits(text, cues)]
        return self._passages("", text, hits)[0]

    def _scan_part(self, where: str, text: str) -> tuple[float, list[Passage]]:
        cues = Cues.of(text)
        hits = [
            *instruction_hits(text, cues),
            *role_spoof_hits(text, cues),
            *hidden_hits(text),
            *exfiltration_hits(text),
            *encoded_hits(text, self.judge),
        ]
        return self._passages(where, text, hits)

    def _passages(self, where: str, text: str, hits: list[Hit]) -> tuple[float, list[Passage]]:
        """The best score of any span, and the spans worth keeping: flagged, or with a signal that fired."""
        spans = list(segments(text))
        overlapping = _overlaps(spans, hits)
        clauses = trailing_clauses(text, spans)
        best = 0.0
        kept: list[Passage] = []
        for index, ((start, end), span_hits) in enumerate(zip(spans, overlapping[:-1], strict=True)):
            start, probability = self._probability(text, start, end, clauses.get(index, ()))
            if not span_hits and probability < MODEL_FIRES and probability < self.threshold:
                best = max(best, probability)
                continue
            if span_hits:
                start = min(start, *(hit.start for hit in span_hits))
                end = max(end, *(hit.end for hit in span_hits))
            passage = _passage(where, start, end, span_hits, probability)
            best = max(best, passage.score)
            if passage.signals or passage.score >= self.threshold:
                kept.append(passage)
        for hit in overlapping[-1]:
            kept.append(_passage(where, hit.start, hit.end, [hit], 0.0))
            best = max(best, kept[-1].score)
        return best, kept

    def _probability(self, text: str, start: int, end: int, clauses: Iterable[int]) -> tuple[int, float]:
        """The model's probability for a segment or, when higher, for one of its trailing clauses (and its start)."""
        best = start, logistic(self._model.margin(text[start:end]))
        for clause in clauses:
            probability = logistic(self._model.margin(text[clause:end]))
            if probability > best[1]:
                best = clause, probability
        return best


def _overlaps(spans: list[tuple[int, int]], hits: list[Hit]) -> list[list[Hit]]:
    """For each span the hits that overlap it; one more list at the end holds the hits that overlap none."""
    overlapping: list[list[Hit]] = [[] for _ in range(len(spans) + 1)]
    ends = [end for _, end in spans]
    for hit in hits:
        index = bisect_left(ends, hit.start + 1)  # the first span that ends after the hit starts
        if index >= len(spans) or spans[index][0] >= hit.end:
            overlapping[-1].append(hit)
        while index < len(spans) and spans[index][0] < hit.end:
            overlapping[index].append(hit)
            index += 1
    return overlapping


def _passage(where: str, start: int, end: int, hits: list[Hit], probability: float) -> Passage:
    strongest: dict[str, float] = {}
    for hit in hits:
        strongest[hit.signal] = max(hit.strength, strongest.get(hit.signal, 0.0))
    miss = 1.0 - probability
    for strength in strongest.values():
        miss *= 1.0 - strength
    names = set(strongest) | ({"model"} if probability >= MODEL_FIRES else set())
    return Passage(where, start, end, round(1.0 - miss, 3), tuple(sorted(names)))
