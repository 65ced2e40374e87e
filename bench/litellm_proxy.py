"""LiteLLM's proxy for the ladder: installed into its own virtualenv (bench/.litellm-venv), pass-through only.

It runs as the gateway does in the ladder: one worker process pinned to one core, in front of the same static
upstream, with a master key (so it checks a key as the gateway does) and no database (no spend logs).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness import HOST, REPO, free_port, gateway_cores, process, wait_ready

VENV = REPO / "bench" / ".litellm-venv"
REQUIREMENT = "litellm[proxy]==1.108.7"  # the newest whose proxy extra resolves from PyPI alone
MASTER_KEY = "sk-bench-litellm"


def install() -> Path:
    """The proxy's executable, installing it first if needed (~1-2 minutes once)."""
    executable = VENV / "bin" / "litellm"
    if not executable.exists():
        print(f"installing {REQUIREMENT} into {VENV} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", REQUIREMENT]
        subprocess.run(pip, check=True)
    return executable


@contextmanager
def litellm_server(workdir: Path, upstream: int) -> Iterator[tuple[str, str, int]]:
    """LiteLLM's proxy: (its chat completions URL, its key, its pid)."""
    executable = install()
    config = {
        "model_list": [
            {
                "model_name": "bench",
                "litellm_params": {
                    "model": "openai/bench-model",
                    "api_base": f"http://{HOST}:{upstream}/v1",
                    "api_key": "sk-upstream",
                },
            }
        ],
        "general_settings": {"master_key": MASTER_KEY},
        "litellm_settings": {"telemetry": False},
    }
    path = workdir / "litellm.yaml"
    path.write_text(json.dumps(config))
    port = free_port()
    command = [str(executable), "--config", str(path), "--host", HOST, "--port", str(port), "--num_workers", "1"]
    env = {"PATH": f"{VENV / 'bin'}:/usr/bin:/bin", "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HOME": str(workdir)}
    with open(workdir / "litellm.log", "wb") as log, process(command, log, gateway_cores(), env) as proc:
        wait_ready(proc, log, f"http://{HOST}:{port}/health/liveliness")
        yield f"http://{HOST}:{port}/v1/chat/completions", MASTER_KEY, proc.pid
