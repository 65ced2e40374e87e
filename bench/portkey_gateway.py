"""Portkey's gateway for the ladder: installed from npm into its own folder (bench/.portkey), pass-through only.

It runs as the gateway does in the ladder: one process (node) pinned to one core, in front of the same static
upstream. Portkey takes its upstream from each request's headers, not from a config file: `x-portkey-provider:
openai` with `x-portkey-custom-host: http://host:port/v1` sends an OpenAI chat completion on to that host (its
`isValidCustomHost` trusts 127.0.0.1 by default). No config header, so no guardrails, cache, retries or
fallbacks: the request is mapped to the provider's form and posted on, and the answer mapped back. The caller's
`Authorization` is the upstream's key; Portkey checks none of its own.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness import HOST, REPO, free_port, gateway_cores, process, wait_ready

FOLDER = REPO / "bench" / ".portkey"
PACKAGE = "@portkey-ai/gateway@1.15.2"
KEY = "sk-upstream"  # passed on to the upstream as its API key, which ignores it


def install() -> Path:
    """The gateway's start script, installing it first if needed (~10 s once). Its one install script,
    `patch-package`, has no patches to apply in the published package: it is not run."""
    script = FOLDER / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
    if not script.exists():
        print(f"installing {PACKAGE} into {FOLDER} ...", file=sys.stderr)
        npm = ["npm", "install", "--prefix", str(FOLDER), "--ignore-scripts", "--no-audit", "--no-fund", PACKAGE]
        subprocess.run(npm, check=True, stdout=subprocess.DEVNULL)
    return script


@contextmanager
def portkey_server(workdir: Path, upstream: int) -> Iterator[tuple[str, str, int, dict[str, str]]]:
    """Portkey's gateway: (its chat completions URL, a key, its pid, the headers that name the upstream)."""
    script = install()
    port = free_port()
    command = ["node", str(script), f"--port={port}", "--headless"]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "NODE_ENV": "production", "HOME": str(workdir)}
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": f"http://{HOST}:{upstream}/v1"}
    with open(workdir / "portkey.log", "wb") as log, process(command, log, gateway_cores(), env) as proc:
        wait_ready(proc, log, f"http://{HOST}:{port}/")
        yield f"http://{HOST}:{port}/v1/chat/completions", KEY, proc.pid, headers
