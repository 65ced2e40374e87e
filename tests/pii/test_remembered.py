"""The Inspector's memory of texts it analyzed: an agent resends its conversation each turn."""

from __future__ import annotations

import pytest

from gateway.pii.analyzer import CACHED_FROM, Inspector
from gateway.settings import PiiConfig

PROSE = "We went through the proposal with the team and have a few questions on pricing and the rollout plan. "
LONG = PROSE * 2 + "Reach me at jane.roe@example.com or (415) 555-2671. " + PROSE


def counting(inspector: Inspector, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts the inspector analyzes afresh from now on."""
    fresh: list[str] = []
    analyze = inspector._fresh

    def spy(text: str) -> list:  # type: ignore[type-arg]
        fresh.append(text)
        return analyze(text)

    monkeypatch.setattr(inspector, "_fresh", spy)
    return fresh


def spans(inspector: Inspector, text: str) -> list[tuple[str, str]]:
    return [(h.type, text[h.start : h.end]) for h in inspector.analyze(text)]


def test_a_text_seen_before_gets_the_same_findings_without_a_second_analysis(monkeypatch: pytest.MonkeyPatch) -> None:
    inspector = Inspector(PiiConfig(), key=b"k")
    fresh = counting(inspector, monkeypatch)
    first = spans(inspector, LONG)
    assert first == [("EMAIL_ADDRESS", "jane.roe@example.com"), ("PHONE_NUMBER", "(415) 555-2671")]
    assert spans(inspector, LONG) == first
    assert fresh == [LONG]
    other = LONG.replace("jane.roe", "john.doe")  # one character apart is another text
    assert spans(inspector, other)[0] == ("EMAIL_ADDRESS", "john.doe@example.com")
    assert fresh == [LONG, other]


def test_short_texts_are_analyzed_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    inspector = Inspector(PiiConfig(), key=b"k")
    fresh = counting(inspector, monkeypatch)
    short = "mail jane.roe@example.com"
    assert len(short) < CACHED_FROM
    spans(inspector, short)
    spans(inspector, short)
    assert fresh == [short, short]


def test_the_memory_is_bounded_least_recently_used_first(monkeypatch: pytest.MonkeyPatch) -> None:
    inspector = Inspector(PiiConfig(cache_entries=2), key=b"k")
    fresh = counting(inspector, monkeypatch)
    a, b, c = (f"{name} {LONG}" for name in ("alpha", "bravo", "charlie"))
    for text in (a, b, a, c, a, b):  # c pushes out b (a was used since), then b comes back afresh
        spans(inspector, text)
    assert fresh == [a, b, c, b]


def test_zero_entries_remembers_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    inspector = Inspector(PiiConfig(cache_entries=0), key=b"k")
    fresh = counting(inspector, monkeypatch)
    spans(inspector, LONG)
    spans(inspector, LONG)
    assert fresh == [LONG, LONG]


def test_the_memory_keeps_no_text() -> None:
    inspector = Inspector(PiiConfig(), key=b"k")
    inspector.analyze(LONG)
    remembered = inspector._remembered
    assert remembered is not None
    kept = repr(list(remembered._hits.items()))
    assert "jane.roe" not in kept and "555-2671" not in kept and "proposal" not in kept
    assert all(isinstance(key, bytes) and len(key) == 16 for key in remembered._hits)
