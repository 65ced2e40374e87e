"""`gateway policy check|test|eval`: compile, test and try Rego policies with the embedded engine; `replay`,
`shadow-report`, `why` and `versions` read the decisions already made (`gateway.cli.history`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.cli import history
from gateway.cli.common import ConfigOption, error, settings_from
from gateway.enforcement import Capabilities, plan
from gateway.errors import ConfigError, GatewayError
from gateway.metrics import Metrics
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.factory import load_checked
from gateway.policy.source import load_source
from gateway.policy.testing import compile_error, run_tests
from gateway.settings import PolicyConfig
from gateway.stages.decide import evaluate

app = typer.Typer(help="Write, test and evaluate Rego policies.", no_args_is_help=True)
app.command("replay")(history.replay_command)
app.command("shadow-report")(history.shadow_report_command)
app.command("why")(history.why_command)
app.command("versions")(history.versions_command)

DirArgument = Annotated[Path | None, typer.Argument(help="Policy dir (default ./policies)")]
DirOption = Annotated[Path | None, typer.Option("--dir", help="Policy directory (default: the config's).")]


def _policy_dir(directory: Path | None, config: Path | None) -> Path:
    return directory if directory is not None else settings_from(config).policy.dir


def _embedded_engine(directory: Path, config: Path | None) -> EmbeddedEngine:
    """Load, check and compile the policies in `directory`, or exit 1 saying what is wrong."""
    runtime = settings_from(config).policy.runtime
    try:
        return EmbeddedEngine(load_checked(PolicyConfig(dir=directory, runtime=runtime)), runtime=runtime)
    except ConfigError as exc:
        error(exc.message)
        raise typer.Exit(1) from exc


@app.command("check")
def check(directory: DirArgument = None, config: ConfigOption = None) -> None:
    """Compile the policies and check every builtin they call is supported by the embedded engine."""
    root = _policy_dir(directory, config)
    source = _embedded_engine(root, config).source
    typer.echo(f"ok: {len(source.policy_modules())} module(s), version {source.version}, in {root}")


@app.command("test")
def test(
    directory: DirArgument = None,
    run: Annotated[str | None, typer.Option("--run", help="Only tests whose name contains this")] = None,
    config: ConfigOption = None,
) -> None:
    """Run the test_* rules of every *_test.rego; exit 1 if any fails."""
    root = _policy_dir(directory, config)
    try:
        source = load_source(root)
    except ConfigError as exc:
        error(exc.message)
        raise typer.Exit(1) from exc
    runtime = settings_from(config).policy.runtime
    problem = compile_error(source, runtime=runtime)
    if problem:
        error(problem)
        raise typer.Exit(1)
    results = run_tests(source, run, runtime=runtime)
    for r in results:
        mark = "PASS" if r.passed else "FAIL"
        typer.echo(f"{r.name}: {mark} ({r.seconds * 1000:.1f} ms){'  ' + r.detail if r.detail else ''}")
    failed = sum(not r.passed for r in results)
    typer.echo("-" * 40)
    typer.echo(f"PASS: {len(results) - failed}/{len(results)}" + (f"\nFAIL: {failed}/{len(results)}" if failed else ""))
    raise typer.Exit(1 if failed or not results else 0)


@app.command("eval")
def eval_input(
    input_file: Annotated[Path, typer.Option("--input", help="JSON file with the policy input")],
    directory: DirOption = None,
    config: ConfigOption = None,
) -> None:
    """Print the policy's answer for one input, the decision (fail closed), the plan the gateway would
    carry out, and how long the decision took."""
    engine = _embedded_engine(_policy_dir(directory, config), config)
    try:
        input_doc = json.loads(input_file.read_text())
    except (OSError, ValueError) as exc:
        error(f"cannot read input {input_file}: {exc}")
        raise typer.Exit(2) from exc
    if not isinstance(input_doc, dict) or not isinstance(input_doc.get("call", {}), dict):
        error(f"{input_file}: the input must be an object with a 'call' object")
        raise typer.Exit(2)
    input_doc.setdefault("call", {}).setdefault("phase", "request")
    decision = asyncio.run(evaluate(engine, input_doc, PolicyConfig(timeout_ms=60_000), Metrics()))
    enforced = plan(decision, Capabilities())
    out = {
        "answer": _raw_answer(engine, input_doc),
        "decision": decision.model_dump(exclude={"decision_id", "latency_ms", "phase"}),
        "plan": enforced.model_dump(include={"action", "reasons", "redact", "hold", "route"}),
        "elapsed_ms": decision.latency_ms,
    }
    typer.echo(json.dumps(out, indent=2))


def _raw_answer(engine: EmbeddedEngine, input_doc: dict[str, Any]) -> Any:
    """What the policy itself answered (null when undefined or when the engine failed)."""
    try:
        return asyncio.run(engine.evaluate(input_doc))
    except GatewayError:
        return None
