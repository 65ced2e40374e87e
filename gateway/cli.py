"""The `gateway` command (also `python -m gateway`)."""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import uvicorn

from gateway.audit.records import EXPORT_FIELDS, AuditLog
from gateway.errors import ConfigError, GatewayError
from gateway.metrics import Metrics
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.factory import load_checked
from gateway.policy.source import load_source
from gateway.policy.testing import compile_error, run_tests
from gateway.settings import PolicyConfig, Settings, load_settings
from gateway.stages.decide import decide
from gateway.store.db import Database
from gateway.store.keys import KeyStore

T = TypeVar("T")
app = typer.Typer(
    help="Agent Governance Gateway: policy, routing and audit for AI agent calls.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="Agent keys.", no_args_is_help=True)
policy_app = typer.Typer(help="Write, test and evaluate Rego policies.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(policy_app, name="policy")
app.add_typer(audit_app, name="audit")


def _error(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg="red")


ConfigOption = Annotated[Path | None, typer.Option("--config", help="Config file (or GATEWAY_CONFIG).")]
DirOption = Annotated[Path | None, typer.Option("--dir", help="Policy directory (default: the config's).")]


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        _error(exc.message)
        raise typer.Exit(2) from exc


def _with_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        db = Database(settings.database_url)
        try:
            await db.migrate()
            return await work(db)
        finally:
            await db.aclose()

    try:
        return asyncio.run(run())
    except ConfigError as exc:
        _error(exc.message)
        raise typer.Exit(2) from exc


@app.command()
def serve(
    config: ConfigOption = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Run the gateway. Without a config: SQLite, embedded Rego, the built-in echo upstream and a demo key."""
    from gateway.app import build_services, create_app

    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    settings = _settings(config)

    async def preflight() -> None:  # fail here, with one clear line, rather than in the server's lifespan
        await (await build_services(settings)).aclose()

    try:
        asyncio.run(preflight())
    except ConfigError as exc:
        _error(exc.message)
        raise typer.Exit(1) from exc
    if settings.is_demo:
        _, key = _with_db(settings, _rotate_demo_key)
        _banner(settings, host, port, key)
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level, access_log=False)


async def _rotate_demo_key(db: Database) -> tuple[str, str]:
    store = KeyStore(db)
    await store.revoke_agent("demo")
    return await store.create("demo", "demo")


def _banner(settings: Settings, host: str, port: int, key: str) -> None:
    base = f"http://{host}:{port}"
    routes = ", ".join(settings.routes)
    typer.echo(f"""
Agent Governance Gateway on {base}  (embedded defaults: {settings.database_url}, policies in {settings.policy.dir})
Routes: {routes}  (the built-in echo upstream: no API key needed)
Demo agent key (valid until the next start without a config): {key}

Try it:
  curl -s {base}/v1/chat/completions -H 'Authorization: Bearer {key}' \\
       -H 'Content-Type: application/json' \\
       -d '{{"model": "echo", "messages": [{{"role": "user", "content": "hello"}}]}}'
  OPENAI_BASE_URL={base}/v1 OPENAI_API_KEY={key} python your_agent.py
""")


@keys_app.command("create")
def keys_create(
    agent: Annotated[str, typer.Option(help="Agent name")],
    team: Annotated[str | None, typer.Option(help="Team")] = None,
    label: Annotated[
        list[str] | None, typer.Option(help="KEY=VALUE, repeatable; policies see input.principal.labels")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Issue an agent key. It is shown once (alone on the last line) and stored only as a hash."""
    if not agent.strip():
        raise typer.BadParameter("the agent name must not be empty", param_hint="--agent")
    labels = _labels(label or [])
    key_id, key = _with_db(_settings(config), lambda db: KeyStore(db).create(agent, team, labels))
    typer.echo(f"created key {key_id} for agent {agent!r}" + (f" (team {team!r})" if team else ""))
    typer.echo(key)


def _labels(pairs: list[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--label")
        labels[name] = value
    return labels


@keys_app.command("list")
def keys_list(config: ConfigOption = None) -> None:
    """List keys (never the keys themselves)."""
    for row in _with_db(_settings(config), lambda db: KeyStore(db).list()):
        state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
        typer.echo(f"{row.key_id}  {row.agent:<24} {row.team or '-':<16} {state}")


@keys_app.command("revoke")
def keys_revoke(
    agent: Annotated[str, typer.Option(help="Revoke every key of this agent")], config: ConfigOption = None
) -> None:
    count = _with_db(_settings(config), lambda db: KeyStore(db).revoke_agent(agent))
    typer.echo(f"revoked {count} key(s) of agent {agent!r}")


def _policy_dir(directory: Path | None, config: Path | None) -> Path:
    return directory if directory is not None else _settings(config).policy.dir


def _embedded_engine(directory: Path) -> EmbeddedEngine:
    """Load, check and compile the policies in `directory`, or exit 1 saying what is wrong."""
    try:
        return EmbeddedEngine(load_checked(PolicyConfig(dir=directory)))
    except ConfigError as exc:
        _error(exc.message)
        raise typer.Exit(1) from exc


@policy_app.command("check")
def policy_check(
    directory: Annotated[Path | None, typer.Argument(help="Policy dir (default ./policies)")] = None,
    config: ConfigOption = None,
) -> None:
    """Compile the policies and check every builtin they call is supported by the embedded engine."""
    root = _policy_dir(directory, config)
    source = _embedded_engine(root).source
    typer.echo(f"ok: {len(source.policy_modules())} module(s), version {source.version}, in {root}")


@policy_app.command("test")
def policy_test(
    directory: Annotated[Path | None, typer.Argument(help="Policy dir (default ./policies)")] = None,
    run: Annotated[str | None, typer.Option("--run", help="Only tests whose name contains this")] = None,
    config: ConfigOption = None,
) -> None:
    """Run the test_* rules of every *_test.rego; exit 1 if any fails."""
    root = _policy_dir(directory, config)
    try:
        source = load_source(root)
    except ConfigError as exc:
        _error(exc.message)
        raise typer.Exit(1) from exc
    problem = compile_error(source)
    if problem:
        _error(problem)
        raise typer.Exit(1)
    results = run_tests(source, run)
    for r in results:
        mark = "PASS" if r.passed else "FAIL"
        typer.echo(f"{r.name}: {mark} ({r.seconds * 1000:.1f} ms){'  ' + r.detail if r.detail else ''}")
    failed = sum(not r.passed for r in results)
    typer.echo("-" * 40)
    typer.echo(f"PASS: {len(results) - failed}/{len(results)}" + (f"\nFAIL: {failed}/{len(results)}" if failed else ""))
    raise typer.Exit(1 if failed or not results else 0)


@policy_app.command("eval")
def policy_eval(
    input_file: Annotated[Path, typer.Option("--input", help="JSON file with the policy input")],
    directory: DirOption = None,
    config: ConfigOption = None,
) -> None:
    """Print the decision for one input as the gateway enforces it (fail closed), and how long it took."""
    engine = _embedded_engine(_policy_dir(directory, config))
    try:
        input_doc = json.loads(input_file.read_text())
    except (OSError, ValueError) as exc:
        _error(f"cannot read input {input_file}: {exc}")
        raise typer.Exit(2) from exc
    if not isinstance(input_doc, dict) or not isinstance(input_doc.get("call", {}), dict):
        _error(f"{input_file}: the input must be an object with a 'call' object")
        raise typer.Exit(2)
    input_doc.setdefault("call", {}).setdefault("phase", "request")
    decision = asyncio.run(decide(engine, input_doc, PolicyConfig(timeout_ms=60_000), Metrics()))
    out = {
        "answer": _raw_answer(engine, input_doc),
        "decision": decision.model_dump(exclude={"decision_id", "latency_ms", "phase"}),
        "elapsed_ms": decision.latency_ms,
    }
    typer.echo(json.dumps(out, indent=2))


def _raw_answer(engine: EmbeddedEngine, input_doc: dict[str, Any]) -> Any:
    """What the policy itself answered (null when undefined or when the engine failed)."""
    try:
        return asyncio.run(engine.evaluate(input_doc))
    except GatewayError:
        return None


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time") from exc


@audit_app.command("export")
def audit_export(
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv")] = "jsonl",
    since: Annotated[str | None, typer.Option(help="ISO time, inclusive")] = None,
    until: Annotated[str | None, typer.Option(help="ISO time, exclusive")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="File (default: stdout)")] = None,
    config: ConfigOption = None,
) -> None:
    """Export audit records, oldest first."""
    if fmt not in ("jsonl", "csv"):
        raise typer.BadParameter("--format must be jsonl or csv")
    start, end = _parse_time(since), _parse_time(until)

    stream = out.open("w", newline="") if out else sys.stdout

    async def export(db: Database) -> None:
        writer = _row_writer(fmt, stream)
        async for row in AuditLog(db).read(start, end):
            writer(row)

    try:
        _with_db(_settings(config), export)
    finally:
        if out:
            stream.close()


def _row_writer(fmt: str, stream: Any) -> Callable[[dict[str, Any]], None]:
    """Writes one exported row at a time (a header first, for CSV)."""
    if fmt == "jsonl":
        return lambda row: stream.write(json.dumps(row) + "\n")
    writer = csv.DictWriter(stream, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    return lambda row: writer.writerow({k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in row.items()})


def main() -> None:
    app()
