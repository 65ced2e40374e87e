"""Real gateway processes for the tests, one way: `gateway serve` on a free loopback port, waited for by polling
and always stopped; any other long-running command (`gateway audit witness`) the same way; and the CLI run to its
end, its exit code, stdout and stderr returned.

    >>> env = gateway_env(tmp_path / "gateway.yaml")  # doctest: +SKIP
    >>> key = cli("keys", "create", "--agent", "a", env=env, check=True).stdout.splitlines()[-1]  # doctest: +SKIP
    >>> with serve(env) as server:  # doctest: +SKIP
    ...     httpx.get(f"{server.url}/readyz")

An app served on a thread of the test process (`tests.conftest.gateway_factory`) is faster to start and can be
given a `FakeClock`; a real process is for what only a process shows (workers, signals, its own start-up).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from tests.helpers import wait_until

GATEWAY = (sys.executable, "-m", "gateway")
Output = int | IO[Any] | None  # what a process's stdout or stderr goes to: subprocess.DEVNULL, PIPE, a file


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gateway_env(config: Path | None = None, **variables: str) -> dict[str, str]:
    """This environment without the test run's GATEWAY_* settings; `GATEWAY_CONFIG` names `config` if given, and
    `variables` are added (`GATEWAY_LOG_FORMAT="json"`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    if config is not None:
        env["GATEWAY_CONFIG"] = str(config)
    return env | variables


def cli(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: str | None = None,
    check: bool = False,
    timeout_s: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`python -m gateway ARGS`, run to its end: `.returncode`, `.stdout`, `.stderr` (text). `env`: the whole
    environment (None: this process's). `check`: a non-zero exit fails the test, showing what the command said."""
    done = subprocess.run(
        [*GATEWAY, *args], env=env, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=timeout_s
    )
    if check and done.returncode != 0:
        raise AssertionError(f"gateway {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


@contextmanager
def running(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdout: Output = subprocess.DEVNULL,
    stderr: Output = subprocess.DEVNULL,
) -> Iterator[subprocess.Popen[str]]:
    """`python -m gateway ARGS` in the background for the block; stopped at its end, unless a test ended it."""
    proc = subprocess.Popen([*GATEWAY, *args], env=env, cwd=cwd, stdout=stdout, stderr=stderr, text=True)
    try:
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[Any], timeout_s: float = 30) -> None:
    """SIGTERM, and SIGKILL if it has not ended within `timeout_s`; its pipes closed."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def wait_healthy(url: str, proc: subprocess.Popen[Any], timeout_s: float = 30, status: int | None = 200) -> None:
    """Poll `url` until it answers `status` (None: anything at all); fail if the process ends first or the time
    runs out."""

    def answered() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"{url}: the process ended (exit code {proc.returncode}) before it was ready")
        try:
            answer = httpx.get(url, timeout=1)
        except httpx.HTTPError:
            return False
        return status is None or answer.status_code == status

    wait_until(answered, timeout_s=timeout_s)


@dataclass(frozen=True)
class Server:
    """A `gateway serve` process that answered its readiness check."""

    port: int
    proc: subprocess.Popen[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def read_until(self, marker: str) -> str:
        """Its output (started with `stdout=PIPE`) up to the first line holding `marker`, that line included."""
        if self.proc.stdout is None:
            raise AssertionError("serve(..., stdout=subprocess.PIPE) to read what the server prints")
        lines: list[str] = []
        while not lines or marker not in lines[-1]:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"the output ended before {marker!r}:\n{''.join(lines)}")
            lines.append(line)
        return "".join(lines)


@contextmanager
def serve(
    env: Mapping[str, str] | None = None,
    *,
    port: int | None = None,
    workers: int | None = 1,
    cwd: Path | None = None,
    log_level: str | None = "warning",
    ready: str = "/readyz",
    timeout_s: float = 30,
    stdout: Output = subprocess.DEVNULL,
    stderr: Output = subprocess.DEVNULL,
) -> Iterator[Server]:
    """`gateway serve` on `port` (default: a free one), yielded once `ready` answers 200; stopped when the block
    ends. `workers` None and `log_level` None: the command's own defaults (a worker per core, info)."""
    options = ["--port", str(port or free_port())]
    options += ["--workers", str(workers)] if workers is not None else []
    options += ["--log-level", log_level] if log_level is not None else []
    with running("serve", *options, env=env, cwd=cwd, stdout=stdout, stderr=stderr) as proc:
        server = Server(int(options[1]), proc)
        wait_healthy(f"{server.url}{ready}", proc, timeout_s)
        yield server
