"""Real coding agents, unchanged: Claude Code and Codex (their own binaries, from npm) against the gateway with its
default policy and PII settings. Each does a local tool round trip, streamed, on a same-format route and on a
cross-format route. A recorder in front of the gateway keeps what each CLI sent: on a same-format route the
provider gets exactly that, apart from the model (and the hosted tools the default policy does not allow).

`.ci/run` installs the CLIs (`scripts/agent-clis`) and names them in GATEWAY_TEST_CLAUDE / GATEWAY_TEST_CODEX;
run by hand without them, these tests are skipped with that reason."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.conftest import ServerThread, missing_service
from tests.responses_upstream import ResponsesUpstream

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gateway-test-agents/node_modules"
CODEX_DEFAULT_MODEL = "gpt-6.2-sol"  # what Codex 0.171.0 asks for when its config names no model
DROPPED_HEADERS = {"host", "content-length", "transfer-encoding", "content-encoding", "connection"}


def _binary(variable: str, default: Path) -> str:
    path = Path(os.environ.get(variable) or default)
    if not path.is_file():
        missing_service(f"{path} is missing: scripts/agent-clis installs it ({variable} names another)")
    return str(path)


@pytest.fixture(scope="module")
def claude() -> str:
    return _binary("GATEWAY_TEST_CLAUDE", CACHE / "@anthropic-ai/claude-code-linux-x64/claude")


@pytest.fixture(scope="module")
def codex() -> str:
    return _binary("GATEWAY_TEST_CODEX", CACHE / "codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex")


class Recorder:
    """A pass-through proxy in front of the gateway that keeps each request body the agent sent."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.bodies: list[dict[str, Any]] = []
        self.answers: list[tuple[str, int]] = []  # (path, status) of every request
        self.app = Starlette(routes=[Route("/{path:path}", self.forward, methods=["GET", "POST"])])

    async def forward(self, request: Request) -> Response:
        raw = await request.body()
        if raw:
            self.bodies.append(json.loads(raw))
        headers = {k: v for k, v in request.headers.items() if k not in DROPPED_HEADERS}
        client = httpx.AsyncClient(timeout=60)
        url = f"{self.target}{request.url.path}" + (f"?{request.url.query}" if request.url.query else "")
        sent = await client.send(client.build_request(request.method, url, content=raw, headers=headers), stream=True)
        out = {k: v for k, v in sent.headers.items() if k not in DROPPED_HEADERS}
        self.answers.append((request.url.path, sent.status_code))

        async def relay() -> Any:
            try:
                async for chunk in sent.aiter_bytes():
                    yield chunk
            finally:
                await sent.aclose()
                await client.aclose()

        return StreamingResponse(relay(), status_code=sent.status_code, headers=out)


@pytest.fixture
def native_upstream() -> Iterator[tuple[ResponsesUpstream, str]]:
    upstream = ResponsesUpstream()
    with ServerThread(upstream.app) as server:
        yield upstream, server.url


def _providers(openai_url: str, anthropic_url: str, native_url: str) -> dict[str, Any]:
    return {
        "oai": {"kind": "openai", "base_url": f"{openai_url}/v1"},
        "ant": {"kind": "anthropic", "base_url": anthropic_url},
        "native": {"kind": "openai", "base_url": f"{native_url}/v1", "responses": "native"},
    }


def _same_apart_from_model(sent: dict[str, Any], received: dict[str, Any], removed: set[str] = frozenset()) -> None:
    sent = {**sent, "model": received["model"]}
    if "tools" in sent and removed:
        sent["tools"] = [t for t in sent["tools"] if t.get("type") not in removed]
    assert received == sent, _first_difference(sent, received)


def _each_as_sent(sent: list[dict[str, Any]], received: list[dict[str, Any]], removed: set[str] = frozenset()) -> None:
    """Every body the provider got is one the CLI sent, apart from the model (a CLI may retry a request: the
    retry is sent again, as sent), and the first of them in full."""
    assert received, "nothing reached the provider"
    for got in received:
        candidates = [b for b in sent if b.get("model") and _differences(b, got, removed) is None]
        assert candidates, _differences(sent[0], got, removed) if sent else "nothing was recorded"


def _differences(sent: dict[str, Any], received: dict[str, Any], removed: set[str]) -> str | None:
    try:
        _same_apart_from_model(sent, received, removed)
    except AssertionError as exc:
        return str(exc)[:2000]
    return None


def _first_difference(a: Any, b: Any, where: str = "") -> str:
    if type(a) is not type(b):
        return f"{where}: {str(a)[:200]!r} != {str(b)[:200]!r}"
    if isinstance(a, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{where}.{key}")
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{where}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_difference(x, y, f"{where}[{i}]")
    return f"{where}: {str(a)[:300]!r} != {str(b)[:300]!r}"


def _workdir(tmp_path: Path) -> tuple[Path, Path]:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    (work / "notes.txt").write_text("the answer is forty-two\n")
    return home, work


def _run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_", "GATEWAY_"))}
    return subprocess.run(
        command, env={**clean, **env}, cwd=cwd, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL
    )


# -- Claude Code ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["ant", "oai"])
def test_claude_code_reads_a_file_through_the_gateway(
    claude, gateway_factory, sqlite_url, tmp_path, anthropic_upstream, openai_upstream, provider
):
    """`claude -p` with only ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY changed: its model asks for its own Read
    tool, Claude Code runs it and sends the result back, and the answer names what the file holds."""
    routes = {"claude-opus-4-8": {"provider": provider, "model": "claude-cli" if provider == "ant" else "gpt-cli"}}
    gw = gateway_factory(sqlite_url, routes=routes)
    home, work = _workdir(tmp_path)
    recorder = Recorder(gw.url)
    upstream = (anthropic_upstream if provider == "ant" else openai_upstream)[0]
    before = len(upstream.received)  # the stand-in providers serve the whole session
    with ServerThread(recorder.app) as front:
        env = {"HOME": str(home), "ANTHROPIC_BASE_URL": front.url, "ANTHROPIC_API_KEY": gw.key}
        done = _run([claude, "-p", f"READ {work / 'notes.txt'}"], env, work)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "done:" in done.stdout and "forty-two" in done.stdout, done.stdout
    received = upstream.received[before:]
    assert len(received) >= 2  # the tool call, and the turn with its result
    if provider == "ant":  # same format: what the CLI sent is what the provider got, apart from the model
        _each_as_sent([b for b in recorder.bodies if b.get("messages")], received)


# -- Codex ----------------------------------------------------------------------------------------------------


def _codex_config(home: Path, base_url: str, model: str | None) -> None:
    (home / ".codex").mkdir()
    named = f'model = "{model}"\n' if model else ""
    (home / ".codex/config.toml").write_text(
        f'model_provider = "gateway"\n{named}[model_providers.gateway]\nname = "gateway"\n'
        f'base_url = "{base_url}/v1"\nenv_key = "GATEWAY_KEY"\nwire_api = "responses"\n'
    )


@pytest.mark.parametrize("provider", ["native", "oai"])
def test_codex_runs_a_command_through_the_gateway(
    codex, gateway_factory, sqlite_url, tmp_path, native_upstream, openai_upstream, provider
):
    """`codex exec` with a model named in its config (it then offers namespace groups and web_search): its model
    asks for exec_command, Codex runs `cat notes.txt`, and the answer names what the file holds. The default
    policy allows no hosted tool: web_search is taken out of the call, nothing else is changed."""
    providers = _providers(openai_upstream[1], "http://127.0.0.1:9", native_upstream[1])
    routes = {"gpt-5-codex": {"provider": provider, "model": "gpt-5-codex-cli" if provider == "native" else "gpt-cli"}}
    gw = gateway_factory(sqlite_url, providers=providers, routes=routes)
    home, work = _workdir(tmp_path)
    recorder = Recorder(gw.url)
    before = len(native_upstream[0].received), len(openai_upstream[0].received)
    with ServerThread(recorder.app) as front:
        _codex_config(home, front.url, "gpt-5-codex")
        env = {"HOME": str(home), "CODEX_HOME": str(home / ".codex"), "GATEWAY_KEY": gw.key}
        done = _run([codex, "exec", "--skip-git-repo-check", "RUN cat notes.txt"], env, work)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "done:" in done.stdout and "forty-two" in done.stdout, done.stdout + done.stderr
    received = (
        native_upstream[0].received[before[0] :] if provider == "native" else openai_upstream[0].received[before[1] :]
    )
    assert len(received) >= 2
    if provider == "native":
        _each_as_sent([b for b in recorder.bodies if b.get("input")], received, removed={"web_search"})


def test_codex_with_its_default_model_reaches_the_provider_unchanged(
    codex, gateway_factory, sqlite_url, tmp_path, native_upstream
):
    """Codex's default model gets its tools in an `additional_tools` input item: its prompts and tool
    descriptions (numbers with units, file names, module names) reach the provider unchanged."""
    providers = _providers("http://127.0.0.1:9", "http://127.0.0.1:9", native_upstream[1])
    routes = {CODEX_DEFAULT_MODEL: {"provider": "native", "model": CODEX_DEFAULT_MODEL}}
    gw = gateway_factory(sqlite_url, providers=providers, routes=routes)
    home, work = _workdir(tmp_path)
    recorder = Recorder(gw.url)
    with ServerThread(recorder.app) as front:
        _codex_config(home, front.url, None)
        env = {"HOME": str(home), "CODEX_HOME": str(home / ".codex"), "GATEWAY_KEY": gw.key}
        done = _run([codex, "exec", "--skip-git-repo-check", "say hello"], env, work)
    assert done.returncode == 0, done.stdout + done.stderr
    assert recorder.bodies[0]["model"] == CODEX_DEFAULT_MODEL
    _each_as_sent(recorder.bodies, native_upstream[0].received)
