"""The detector as the gateway uses it: each part's result remembered by a hash of its text, so the tool results a
conversation sends back on every turn are scanned once (`services.injection`, the screen stage).

    screen = InjectionScreen(InjectionDetector(0.6))
    report = screen.scan([("messages[2]", text), ("messages[4]", other)])   # as InjectionDetector.scan
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import replace

from gateway.guards.injection import EMPTY, InjectionDetector, InjectionReport, Passage
from gateway.guards.injection.report import build_report

REMEMBERED = 4096  # parts kept (each a score, its signals and at most 8 passages)


class InjectionScreen:
    def __init__(self, detector: InjectionDetector, size: int = REMEMBERED) -> None:
        self.detector = detector
        self.threshold = detector.threshold
        self._size = size
        self._seen: OrderedDict[bytes, InjectionReport] = OrderedDict()

    def _part(self, text: str) -> InjectionReport:
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        found = self._seen.get(key)
        if found is not None:
            self._seen.move_to_end(key)
            return found
        found = self.detector.scan([("", text)])
        self._seen[key] = found
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return found

    def scan(self, parts: Iterable[tuple[str, str]]) -> InjectionReport:
        """The same report as `InjectionDetector.scan` on `parts`."""
        scores: list[tuple[str, float]] = []
        signals: set[str] = set()
        passages: list[Passage] = []
        for where, text in parts:
            one = self._part(text)
            scores.append((where, one.score))
            signals.update(one.signals)
            passages += [replace(p, where=where) for p in one.passages]
        return build_report(scores, signals, passages, self.threshold) if scores else EMPTY
