"""Export at scale: `gateway audit export` in its own process over a log of hundreds of thousands of events,
its peak resident memory (the kernel's VmHWM) against the same command's on a tiny log.

A million events take about two minutes here (2 cores: ~100 µs an event to export, ~20 µs to insert), so
the suite exports SCALE events (about 25 s; GATEWAY_TEST_EXPORT_SCALE=1000000 for the full run), and
docs/audit.md quotes the million-event run: a 123 MiB peak, as for 150,000 events (119 MiB for 1,000)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from tests.audit.helpers import with_database
from tests.audit.test_export import _insert_directly
from tests.processes import running

pytestmark = pytest.mark.e2e  # a real gateway process

SCALE = int(os.environ.get("GATEWAY_TEST_EXPORT_SCALE", "150000"))
GROWTH_LIMIT = 48 * 2**20  # the export's own memory, over what the command needs to start
PEAK_LIMIT = 256 * 2**20  # everything (~145 MiB of it is the imports: the CLI loads the gateway)


def _log(tmp_path: Path, name: str, n: int) -> Path:
    """A config naming a SQLite log of `n` events written straight into the table."""
    db = tmp_path / f"{name}.db"
    url = f"sqlite+aiosqlite:///{db}"
    with_database(url, lambda d: d.migrate())
    _insert_directly(db, n)
    config = tmp_path / f"{name}.yaml"
    config.write_text(f"database_url: {url}\naudit:\n  signing_key_env: GATEWAY_TEST_AUDIT_KEY\n")
    return config


def _export(config: Path, out: Path) -> int:
    """Run `gateway audit export --format jsonl --out OUT`; its peak RSS in bytes (VmHWM, read while it runs:
    the kernel's rusage would count the test process's own pages, shared between fork and exec)."""
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_DATABASE_URL"} | {"GATEWAY_CONFIG": str(config)}
    command = ["audit", "export", "--format", "jsonl", "--out", str(out)]
    stderr_path = out.parent / f"{out.name}.stderr"
    peak = 0
    with stderr_path.open("w") as stderr, running(*command, env=env, stderr=stderr) as proc:
        while proc.poll() is None:  # sampled while it runs
            peak = max(peak, _high_water(proc.pid))
            time.sleep(0.02)
    assert proc.returncode == 0, stderr_path.read_text()[-2000:]
    return peak


def _high_water(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # gone meanwhile
        return 0
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    return int(found[1]) * 1024 if found else 0


def _lines(path: Path) -> tuple[int, bytes]:
    count, last = 0, b""
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            count += block.count(b"\n")
            last = (last + block)[-4096:]
    return count, last.splitlines()[-1]


def test_a_large_export_in_its_own_process_stays_in_bounded_memory(tmp_path):
    small = _export(_log(tmp_path, "small", 1_000), tmp_path / "small.jsonl")
    big = _export(_log(tmp_path, "big", SCALE), tmp_path / "big.jsonl")
    count, last = _lines(tmp_path / "big.jsonl")
    assert count == SCALE and f'"seq":{SCALE - 1}'.encode() in last.replace(b" ", b"")
    assert big - small < GROWTH_LIMIT, f"{SCALE} events: peak {big / 2**20:.0f} MiB, 1,000: {small / 2**20:.0f} MiB"
    assert big < PEAK_LIMIT, f"peak {big / 2**20:.0f} MiB"
