"""What the benchmarks share: free ports, child processes pinned to cores, readiness, and `wrk` runs.

Load comes from `wrk` (a C load generator: `apt-get install wrk`): a Python client costs more CPU per request
than the gateway would, and on a small machine it would measure itself.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0

WRK_SCRIPT = """
local f = io.open(os.getenv("WRK_BODY_FILE"), "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("WRK_KEY")
for name, value in (os.getenv("WRK_HEADERS") or ""):gmatch("([^:\\n]+): ([^\\n]*)") do
  wrk.headers[name] = value  -- a peer's own headers (Portkey's provider and upstream)
end
local n = tonumber(os.getenv("WRK_FIRST"))
local at = wrk.body:find('"content": "', 1, true)
local function word(i)  -- i in letters (no digit: nothing for the PII recognizers to find)
  local s = ""
  repeat
    local d = i % 26
    s = string.char(97 + d) .. s
    i = (i - d) / 26
  until i < 1
  return s
end
if at then
  local head, tail = wrk.body:sub(1, at + 11), wrk.body:sub(at + 12)
  request = function()
    n = n + 1
    return wrk.format(nil, nil, nil, head .. word(n) .. " " .. tail)
  end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d, '
    .. '"p50_us": %d, "p99_us": %d}\\n', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50), latency:percentile(99)))
end
"""


def gateway_cli(config: Path, *arguments: str) -> str:
    """The last line a `gateway` command prints (where it prints a key or a token)."""
    command = [sys.executable, "-m", "gateway", *arguments, "--config", str(config)]
    done = subprocess.run(command, cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments[:2])} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def cores() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def gateway_cores(count: int = 1) -> set[int]:
    """The cores the measured server may use: the first `count` (all of them on a one-core machine)."""
    return set(cores()[:count])


def load_cores(count: int = 1) -> set[int]:
    """The cores left for the load generator and the upstream (all of them on a one-core machine)."""
    return set(cores()[count:]) or set(cores())


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return {**env, **(extra or {})}


@contextmanager
def process(
    command: list[str], log: IO[bytes], on: set[int], env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process pinned to the cores `on`, stopped (and its children) when the block ends."""
    proc = subprocess.Popen(
        command,
        cwd=REPO,
        env=env or child_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: os.sched_setaffinity(0, on),
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, 15)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait(timeout=5)


def wait_ready(proc: subprocess.Popen[bytes], log: IO[bytes], url: str, method: str = "GET") -> None:
    """Poll until `url` answers 200; raise with the log's tail if the process dies or never gets there."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{url}: server exited with {proc.returncode}:\n{read_log(log)}")
            try:
                if client.request(method, url, json={} if method == "POST" else None).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"{url}: not ready within {READY_TIMEOUT_S:g} s:\n{read_log(log)}")


def read_log(log: IO[bytes]) -> str:
    log.flush()
    return Path(log.name).read_text(errors="replace")[-4000:]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes and all their threads (Linux /proc)."""
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def family(pid: int) -> list[int]:
    """A process and its children (a server with worker processes)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(p) for p in children.read_text().split()] if children.exists() else []
    return [pid, *kids]


@dataclass
class Load:
    """One `wrk` run: latency percentiles in ms, requests/s, and the server's CPU ms per request."""

    concurrency: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    failed: int
    cpu_ms: float | None = None

    @property
    def rps_per_core(self) -> float | None:
        return None if not self.cpu_ms else 1000 / self.cpu_ms


def wrk(
    url: str,
    body_file: Path,
    key: str,
    concurrency: int,
    seconds: float,
    workdir: Path,
    headers: dict[str, str] | None = None,
) -> Load:
    """`concurrency` keep-alive connections posting `body_file` to `url` for `seconds`, with `headers` too.

    Each call's first message starts with a word (in letters) no other call of any run has had: the gateway
    remembers the findings of texts it has inspected (an agent resends its conversation), so a prompt sent
    twice would measure that memory, not the inspection; and identical held calls would share one approval,
    which only one of them can use. The words count up from the time in microseconds.
    """
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    script = workdir / "post.lua"
    script.write_text(WRK_SCRIPT)
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--timeout", "30s", "-s", str(script), url]
    first = str(time.time_ns() // 1000 % 10**13)  # exact in a Lua number (below 2**53)
    env = {**os.environ, "WRK_BODY_FILE": str(body_file), "WRK_KEY": key, "WRK_FIRST": first}
    env["WRK_HEADERS"] = "".join(f"{name}: {value}\n" for name, value in (headers or {}).items())
    done = subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        preexec_fn=lambda: os.sched_setaffinity(0, load_cores()),
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {done.stdout}\n{done.stderr}")
    raw = json.loads(line[4:])
    return Load(
        concurrency=concurrency,
        requests=raw["requests"],
        rps=raw["requests"] / (raw["duration_us"] / 1e6),
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        failed=raw["errors"] + raw["non2xx"],
    )


def measure(
    url: str,
    body_file: Path,
    key: str,
    concurrency: int,
    seconds: float,
    workdir: Path,
    pids: list[int],
    headers: dict[str, str] | None = None,
) -> Load:
    """A `wrk` run with the CPU time the server processes `pids` spent on it."""
    before = cpu_seconds(pids)
    load = wrk(url, body_file, key, concurrency, seconds, workdir, headers)
    spent = cpu_seconds(pids) - before
    load.cpu_ms = spent * 1000 / load.requests if load.requests else None
    return load
