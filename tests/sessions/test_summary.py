"""The session summary: counts by (type, source) and target, flags that stick, and the bound on entries."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.sessions.summary import Observation, apply

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)


def test_a_new_session_counts_its_first_call() -> None:
    seen = Observation(pii={("EMAIL_ADDRESS", "request"): 2}, target=("tool", "lookup", "bank"), calls=1)
    after = apply(None, seen, NOW, max_entries=50)
    assert after == {
        "calls": 1,
        "first_seen": "2026-11-29T06:00:00+00:00",
        "last_seen": "2026-11-29T06:00:00+00:00",
        "denied": False,
        "held": False,
        "pii": [{"type": "EMAIL_ADDRESS", "source": "request", "count": 2}],
        "targets": [{"kind": "tool", "target": "lookup", "server": "bank", "count": 1}],
        "truncated": False,
        "injection": {"score": 0.0, "flagged": False, "signals": []},
    }


def test_injected_content_sticks_at_its_highest_score() -> None:
    """The session keeps the highest injection score seen, whether any part was flagged, and every signal."""
    flagged = {"score": 0.93, "where": ["tool_result"], "signals": ["instruction", "model"], "flagged": True}
    first = apply(None, Observation(injection=flagged), NOW, 50)
    mild = {"score": 0.2, "where": [], "signals": ["role_spoof"], "flagged": False}
    second = apply(first, Observation(injection=mild), NOW, 50)
    assert second["injection"] == {"score": 0.93, "flagged": True, "signals": ["instruction", "model", "role_spoof"]}
    assert apply(None, Observation(injection=mild), NOW, 50)["injection"]["flagged"] is False
    old = {k: v for k, v in first.items() if k != "injection"}  # a summary kept before injection was
    assert apply(old, Observation(injection=mild), NOW, 50)["injection"]["score"] == 0.2


def test_counts_add_up_flags_stick_and_before_is_untouched() -> None:
    first = apply(None, Observation(target=("model", "gpt", None), calls=1, denied=True), NOW, 50)
    later = NOW.replace(minute=5)
    seen = Observation(pii={("EMAIL_ADDRESS", "tool_result"): 1, ("US_SSN", "tool_result"): 1})
    second = apply(first, seen, later, 50)
    third = apply(second, Observation(target=("model", "gpt", None), calls=1, held=True), later, 50)
    assert first["pii"] == [] and first["calls"] == 1  # not changed by what came after
    assert third["calls"] == 2 and third["denied"] and third["held"]
    assert third["targets"] == [{"kind": "model", "target": "gpt", "server": None, "count": 2}]
    assert [(p["type"], p["source"], p["count"]) for p in third["pii"]] == [
        ("EMAIL_ADDRESS", "tool_result", 1),
        ("US_SSN", "tool_result", 1),
    ]
    assert (third["first_seen"], third["last_seen"]) == ("2026-11-29T06:00:00+00:00", "2026-11-29T06:05:00+00:00")


def test_distinct_entries_are_capped_and_the_cap_is_said() -> None:
    summary = None
    for n in range(5):
        seen = Observation(pii={(f"TYPE_{n}", "request"): 1}, target=("tool", f"t{n}", "s"), calls=1)
        summary = apply(summary, seen, NOW, max_entries=3)
    assert summary is not None
    assert len(summary["pii"]) == 3 and len(summary["targets"]) == 3 and summary["truncated"]
    assert summary["calls"] == 5  # the count of calls is not an entry: it keeps counting
    again = apply(summary, Observation(target=("tool", "t0", "s"), calls=1), NOW, max_entries=3)
    assert again["targets"][0]["count"] == 2  # a kept entry still counts
