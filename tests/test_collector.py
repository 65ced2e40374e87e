"""`gateway serve` tunes Python's garbage collector once its app has started; an app in a shared process does not."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

import gateway.app
from gateway.app import create_app
from tests.conftest import ServerThread, make_settings


def test_tuning_freezes_what_start_up_built_and_raises_the_young_threshold() -> None:
    code = (
        "import gc\n"
        "from gateway.app import tune_collector\n"
        "before = gc.get_freeze_count()\n"
        "kept = [[i] for i in range(1000)]\n"  # start-up's objects, still referenced
        "tune_collector()\n"
        "print(before, gc.get_freeze_count() >= 1000, gc.get_threshold())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split(maxsplit=1) == ["0", "True (7000, 10, 10)\n"]


@pytest.mark.parametrize("own_process", [True, False])
def test_only_an_app_that_owns_its_process_tunes_it_after_start_up(
    own_process: bool, sqlite_url: str, openai_upstream: Any, anthropic_upstream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bool] = []  # the real tuning would freeze the test process's objects for good
    monkeypatch.setattr(gateway.app, "tune_collector", lambda: calls.append(True))
    settings = make_settings(sqlite_url, openai_upstream[1], anthropic_upstream[1])
    with ServerThread(create_app(settings, own_process=own_process)):
        assert calls == ([True] if own_process else [])
