#!/usr/bin/env python3
"""The cost of each governance step, rung by rung, side by side with LiteLLM's proxy and Portkey's gateway.

Each rung is a gateway (a child process pinned to one core) in front of a static upstream
(bench/static_upstream.py, ~0.03 ms an answer); `wrk` (on the other cores, with the upstream) posts one chat
completion at concurrency 1, 16 and 64. Added latency is the rung's P50/P99 minus the upstream's own at the
same concurrency; req/s per core is 1000 / the server's CPU ms per request.

    rung            what runs
    floor           the same HTTP server and client, nothing between them: parse the JSON, post it on, answer
                    the upstream's JSON (bench/floor_app.py; no key, no policy)
    passthrough     authenticate, parse, route (bench/ladder_app.py)
    policy          + two Rego decisions, request and answer (embedded regopy)
    pii-500         + PII inspection and redaction, a 500-character prompt with PII every ~250
    pii-2000        the same with a 2,000-character prompt
    audit-sqlite    the full default pipeline, `gateway serve`: + the durable audit log on SQLite (500 chars)
    audit-postgres  the same on PostgreSQL (--postgres URL, or GATEWAY_TEST_POSTGRES_URL)
    limits-sqlite   audit-sqlite with limits on the agent (requests, tokens, money and calls in flight, none ever
                    reached): each call reserves in the store before the policy and settles when it ends
    shadow-sqlite   audit-sqlite with a shadow policy (policy.shadow: the shipped one with one more risky tool)
                    evaluated beside each decision, off the call's path
    held            audit-sqlite with a policy that holds every call for a reviewer, and a reviewer bot
                    (bench/reviewer_bot.py, on the load cores) approving each as soon as it sees it: the call's
                    HTTP request waits meanwhile. The bot polls the admin API (10 ms between polls, --poll-ms):
                    a call also waits for the next poll, and each poll costs the gateway ~4 ms of CPU (counted
                    in its CPU ms/req).
    litellm         LiteLLM's proxy, pass-through (installed by this script into bench/.litellm-venv)
    portkey         Portkey's gateway (node), pass-through (installed by this script into bench/.portkey)

    python bench/ladder.py                              # every rung, 8 s per concurrency
    python bench/ladder.py --rungs passthrough policy --seconds 5 --concurrency 1 16
    python bench/ladder.py --profile bench/flames       # + a py-spy flame graph of each rung at c=16
    python bench/ladder.py --profile /tmp/p --raw       # + its collapsed stacks instead (to add up)
    python bench/ladder.py --profile /tmp/p --profile-at 1   # profile the c=1 run instead
    python bench/ladder.py --ttft                       # + time to first token of a stream, full pipeline

Needs `wrk` (apt-get install wrk); py-spy (pip) for --profile; node and npm for portkey.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness import (
    HOST,
    REPO,
    Load,
    family,
    free_port,
    gateway_cli,
    gateway_cores,
    load_cores,
    measure,
    process,
    wait_ready,
)
from litellm_proxy import litellm_server
from portkey_gateway import portkey_server
from reviewer_bot import held_policies, reviewer_bot
from streams import ttft

PROSE = "We went through the proposal with the team and have a few questions on pricing and the rollout plan. "
VALUES = ["jane.roe@example.com", "(415) 555-2671", "4111 1111 1111 1111", "536-22-8456"]
RUNGS = [
    "floor",
    "passthrough",
    "policy",
    "pii-500",
    "pii-2000",
    "audit-sqlite",
    "audit-postgres",
    "limits-sqlite",
    "shadow-sqlite",
    "held",
    "litellm",
    "portkey",
]
LIMITS = [  # every kind of limit, none ever reached: what counting costs
    {
        "match": {"agent": "*"},
        "requests": {"per": "1m", "max": 10**12},
        "tokens": {"per": "1h", "max": 10**15},
        "spend_usd": {"per": "month", "max": 10**9},
        "concurrent": 10**6,
    }
]


@dataclass
class Rung:
    name: str
    prompt_chars: int = 0
    app_step: str | None = None  # a bench/ladder_app.py step; None: `gateway serve`
    postgres: bool = False
    pii: bool = True
    held: bool = False  # every call held, and approved by bench/reviewer_bot.py
    limits: bool = False  # LIMITS on the agent, and a price for the route
    shadow: bool = False  # a shadow policy beside the enforced one


SPECS = {
    "floor": Rung("floor"),
    "passthrough": Rung("passthrough", app_step="passthrough", pii=False),
    "policy": Rung("policy", app_step="policy", pii=False),
    "pii-500": Rung("pii-500", 500, app_step="pii"),
    "pii-2000": Rung("pii-2000", 2000, app_step="pii"),
    "audit-sqlite": Rung("audit-sqlite", 500),
    "audit-postgres": Rung("audit-postgres", 500, postgres=True),
    "limits-sqlite": Rung("limits-sqlite", 500, limits=True),
    "shadow-sqlite": Rung("shadow-sqlite", 500, shadow=True),
    "held": Rung("held", 500, held=True),
    "litellm": Rung("litellm"),
    "portkey": Rung("portkey"),
}


def prompt(chars: int) -> str:
    """`chars` characters of prose with a PII value every ~250 (the default settings redact them)."""
    if not chars:
        return "hello"
    out, i = "", 0
    while len(out) < chars:
        out += PROSE + PROSE + f"Reach me at {VALUES[i % len(VALUES)]}. "
        i += 1
    return out[:chars]


def body_file(workdir: Path, chars: int) -> Path:
    path = workdir / f"body-{chars}.json"
    path.write_text(json.dumps({"model": "bench", "messages": [{"role": "user", "content": prompt(chars)}]}))
    return path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rungs", nargs="+", choices=RUNGS, default=RUNGS)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per concurrency (default 8)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first (default 2)")
    parser.add_argument("--workers", type=int, default=1, help="gateway worker processes (and cores) (default 1)")
    parser.add_argument("--postgres", default=os.environ.get("GATEWAY_TEST_POSTGRES_URL"), help="for audit-postgres")
    parser.add_argument("--profile", type=Path, help="write a py-spy flame graph of each rung at c=16 here")
    parser.add_argument("--raw", action="store_true", help="--profile writes py-spy's collapsed stacks (.txt)")
    parser.add_argument("--profile-at", type=int, default=16, help="--profile at this concurrency (default 16)")
    parser.add_argument("--ttft", action="store_true", help="measure a stream's time to first token too")
    parser.add_argument("--poll-ms", type=float, default=10.0, help="held: the reviewer bot's pause between polls")
    return parser.parse_args(argv)


def gateway_config(workdir: Path, upstream: int, rung: Rung, postgres: str | None) -> Path:
    database = postgres if rung.postgres else f"sqlite+aiosqlite:///{workdir / 'gateway.db'}"
    policies = held_policies(workdir) if rung.held else REPO / "policies"
    config = {
        "database_url": database,
        "policy": {"dir": str(policies), "reload": False},
        "pii": {"enabled": rung.pii, "key_file": str(workdir / "pii.key")},
        "approvals": {"key_file": str(workdir / "approvals.key")},
        "audit": {"signing_key_file": str(workdir / "audit.key")},
        "providers": {"static": {"kind": "openai", "base_url": f"http://{HOST}:{upstream}/v1"}},
        "routes": {"bench": {"provider": "static", "model": "bench-model"}},
    }
    if rung.limits:
        config |= {"limits": LIMITS, "prices": {"bench": {"input": 0.15, "output": 0.6}}}
    if rung.shadow:
        config["policy"]["shadow"] = str(shadow_policies(workdir))
    path = workdir / "gateway.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


def shadow_policies(workdir: Path) -> Path:
    """The shipped policies with one more risky tool: a candidate that disagrees on none of the bench's calls."""
    directory = workdir / "shadow-policies"
    shutil.copytree(REPO / "policies", directory, dirs_exist_ok=True)
    data_file = directory / "gateway" / "data.json"
    data = json.loads(data_file.read_text())
    data_file.write_text(json.dumps({**data, "risky_tools": [*data["risky_tools"], "send_email"]}))
    return directory


@contextmanager
def gateway(workdir: Path, upstream: int, rung: Rung, args: argparse.Namespace) -> Iterator[tuple[str, str, int]]:
    """A gateway for `rung`: (its chat completions URL, an agent key, its pid)."""
    config = gateway_config(workdir, upstream, rung, args.postgres)
    key = gateway_cli(config, "keys", "create", "--agent", "bench")
    port = free_port()
    if rung.app_step:
        command = [sys.executable, str(REPO / "bench" / "ladder_app.py"), "--step", rung.app_step]
        command += ["--config", str(config), "--port", str(port)]
    else:
        command = [sys.executable, "-m", "gateway", "serve", "--config", str(config), "--port", str(port)]
        command += ["--log-level", "warning"] + (["--workers", str(args.workers)] if args.workers > 1 else [])
    with open(workdir / f"{rung.name}.log", "wb") as log, process(command, log, gateway_cores(args.workers)) as proc:
        wait_ready(proc, log, f"http://{HOST}:{port}/readyz")
        yield f"http://{HOST}:{port}/v1/chat/completions", key, proc.pid


@contextmanager
def floor(workdir: Path, upstream: int) -> Iterator[tuple[str, str, int]]:
    """bench/floor_app.py in front of the upstream: (its chat completions URL, a key it ignores, its pid)."""
    port = free_port()
    url = f"http://{HOST}:{port}/v1/chat/completions"
    command = [sys.executable, str(REPO / "bench" / "floor_app.py"), "--port", str(port)]
    command += ["--upstream", f"http://{HOST}:{upstream}/v1/chat/completions"]
    with open(workdir / "floor.log", "wb") as log, process(command, log, gateway_cores()) as proc:
        wait_ready(proc, log, url, "POST")
        yield url, "-", proc.pid


@contextmanager
def server(
    rung: Rung, upstream: int, args: argparse.Namespace, workdir: Path
) -> Iterator[tuple[str, str, int, dict[str, str]]]:
    """The rung's server (with its reviewer bot for `held`): (its chat completions URL, a key, its pid, the
    headers each call needs besides the key)."""
    if rung.name == "litellm":
        with litellm_server(workdir, upstream) as found:
            yield (*found, {})
    elif rung.name == "portkey":
        with portkey_server(workdir / rung.name, upstream) as peer:
            yield peer
    elif rung.name == "floor":
        with floor(workdir / rung.name, upstream) as found:
            yield (*found, {})
    else:
        with gateway(workdir / rung.name, upstream, rung, args) as found:
            if not rung.held:
                yield (*found, {})
                return
            base = found[0].removesuffix("/v1/chat/completions")
            with reviewer_bot(workdir / rung.name / "gateway.yaml", base, workdir / rung.name, args.poll_ms):
                yield (*found, {})


def run_rung(rung: Rung, upstream: int, args: argparse.Namespace, workdir: Path) -> dict[int, Load]:
    body = body_file(workdir, rung.prompt_chars)
    with server(rung, upstream, args, workdir) as (url, key, pid, headers):
        measure(url, body, key, 16, args.warmup, workdir, family(pid), headers)
        loads = {}
        for c in args.concurrency:
            with profiled(args.profile if c == args.profile_at else None, rung.name, pid, args.seconds, args.raw):
                loads[c] = measure(url, body, key, c, args.seconds, workdir, family(pid), headers)
        if args.ttft and rung.name in ("pii-500", "audit-sqlite"):
            args.ttft_rows.append(f"{rung.name:<15} {ttft(url, key, body)}")
        return loads


@contextmanager
def profiled(folder: Path | None, name: str, pid: int, seconds: float, raw: bool = False) -> Iterator[None]:
    """A py-spy flame graph of `pid` while the block runs; `raw`: its collapsed stacks instead, a line per stack
    with its sample count (to add up with a script)."""
    if folder is None:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{name}.{'txt' if raw else 'svg'}"
    spy = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--rate",
            "200",
            "--nonblocking",
            "--duration",
            str(int(seconds)),
            "--format",
            "raw" if raw else "flamegraph",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        spy.wait(timeout=seconds + 30)


def print_table(direct: dict[int, Load], rows: dict[str, dict[int, Load]]) -> None:
    cores = len(os.sched_getaffinity(0))
    print(
        f"\nmachine: {platform.machine()}, {cores} cores, Python {platform.python_version()}; the server on one "
        "core, wrk and the upstream on the others; latency in ms"
    )
    header = (
        f"{'rung':<15} {'conc':>4} {'P50':>7} {'P99':>7} {'added P50':>9} {'added P99':>9} {'req/s':>7} "
        f"{'CPU ms/req':>10} {'req/s/core':>10} {'failed':>6}"
    )
    print(header)
    print("-" * len(header))
    for c, load in direct.items():
        print(f"{'(upstream)':<15} {c:>4} {load.p50_ms:>7.2f} {load.p99_ms:>7.2f} {'':>9} {'':>9} {load.rps:>7.0f}")
    for name, loads in rows.items():
        for c, load in loads.items():
            base = direct[c]
            per_core = f"{load.rps_per_core:>10.0f}" if load.rps_per_core else f"{'-':>10}"
            cpu = f"{load.cpu_ms:>10.2f}" if load.cpu_ms else f"{'-':>10}"
            print(
                f"{name:<15} {c:>4} {load.p50_ms:>7.2f} {load.p99_ms:>7.2f} {load.p50_ms - base.p50_ms:>9.2f} "
                f"{load.p99_ms - base.p99_ms:>9.2f} {load.rps:>7.0f} {cpu} {per_core} {load.failed:>6}"
            )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    rungs = [SPECS[name] for name in args.rungs if name != "audit-postgres" or args.postgres]
    with tempfile.TemporaryDirectory(prefix="gateway-ladder-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        port = free_port()
        log = stack.enter_context(open(workdir / "upstream.log", "wb"))
        command = [sys.executable, str(REPO / "bench" / "static_upstream.py"), "--port", str(port)]
        upstream = stack.enter_context(process(command, log, load_cores()))
        url = f"http://{HOST}:{port}/v1/chat/completions"
        wait_ready(upstream, log, url, "POST")
        body = body_file(workdir, 0)
        direct = {c: measure(url, body, "-", c, args.seconds, workdir, [upstream.pid]) for c in args.concurrency}
        args.ttft_rows = [f"{'(upstream)':<15} {ttft(url, '-', body_file(workdir, 500))}"] if args.ttft else []
        rows = {}
        for rung in rungs:
            (workdir / rung.name).mkdir(exist_ok=True)
            rows[rung.name] = run_rung(rung, port, args, workdir)
            print(f"{rung.name}: done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    print_table(direct, rows)
    if args.ttft_rows:
        print("\ntime to first token, a streamed answer of 8 chunks, c=1, 500-character prompt with PII:")
        print("\n".join(args.ttft_rows))
    print(f"total run: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
