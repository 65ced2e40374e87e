"""`gateway policy replay|shadow-report|why|versions`: a policy change seen before it bites, from the log.

    gateway policy replay --dir NEW [--since ISO] [--until ISO] [--agent A] [--team T] [--phase P] [--show N] [--json]
    gateway policy shadow-report [the same filters]
    gateway policy why DECISION_ID [--json]
    gateway policy versions [--json]

`replay` exits 0 when the candidate changes nothing, 3 when it changes something (a CI job can gate a policy
change on it), 1 on a policy that does not compile, 2 on bad arguments.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, select

from gateway.cli.common import ConfigOption, error, settings_from, with_db
from gateway.errors import ConfigError
from gateway.policy.check import require_supported
from gateway.policy.embedded import runtime_name
from gateway.policy.explain import decision_event
from gateway.policy.replay import Report, Scope, replay, scoped, shadow_report
from gateway.policy.source import load_source
from gateway.policy.versions import PolicyVersions
from gateway.store.db import Database
from gateway.store.tables import AuditEventRow

CHANGED = 3  # the exit code of a replay that found differences

Since = Annotated[datetime | None, typer.Option(help="Only decisions at or after this time (ISO 8601)")]
Until = Annotated[datetime | None, typer.Option(help="Only decisions before this time (ISO 8601)")]
Agent = Annotated[str | None, typer.Option(help="Only this agent's decisions")]
Team = Annotated[str | None, typer.Option(help="Only this team's decisions")]
Phase = Annotated[str | None, typer.Option(help="request or response")]
Show = Annotated[int, typer.Option(help="Examples (decision ids) shown per group")]
AsJson = Annotated[bool, typer.Option("--json", help="One JSON document instead of a table")]


def _scope(
    since: datetime | None, until: datetime | None, agent: str | None, team: str | None, phase: str | None
) -> Scope:
    if phase not in (None, "request", "response"):
        error("--phase must be request or response")
        raise typer.Exit(2)
    return Scope(since, until, agent, team, phase)


def replay_command(
    directory: Annotated[Path, typer.Option("--dir", help="The candidate policy directory")],
    since: Since = None,
    until: Until = None,
    agent: Agent = None,
    team: Team = None,
    phase: Phase = None,
    show: Show = 3,
    as_json: AsJson = False,
    config: ConfigOption = None,
) -> None:
    """Evaluate a candidate policy on recorded decisions and report what it would change."""
    settings = settings_from(config)
    scope = _scope(since, until, agent, team, phase)
    try:
        source = load_source(directory)
        if runtime_name(settings.policy.runtime) == "rego-cpp":
            require_supported(source, source.policy_modules())
    except ConfigError as exc:
        error(exc.message)
        raise typer.Exit(1) from exc

    async def run(db: Database) -> Report:
        total = await _count(db, scope)
        with Progress(
            TextColumn("replaying"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=as_json or total < 10_000,
        ) as bar:
            task = bar.add_task("replay", total=total)
            try:
                return await replay(db, source, scope, show, lambda n: bar.advance(task, n), settings.policy.runtime)
            except ConfigError as exc:
                error(exc.message)
                raise typer.Exit(1) from exc

    report = with_db(settings, run)
    _print(report, as_json, f"candidate {source.version} ({directory})")
    raise typer.Exit(CHANGED if report.changed else 0)


def shadow_report_command(
    since: Since = None,
    until: Until = None,
    agent: Agent = None,
    team: Team = None,
    phase: Phase = None,
    show: Show = 3,
    as_json: AsJson = False,
    config: ConfigOption = None,
) -> None:
    """Summarise the decisions the shadow policy (policy.shadow) would have made otherwise."""
    settings = settings_from(config)
    scope = _scope(since, until, agent, team, phase)
    report = with_db(settings, lambda db: shadow_report(db, scope, show))
    _print(report, as_json, "the shadow policy's disagreements")


def why_command(
    decision_id: Annotated[str, typer.Argument(help="The decision id (x-gateway-decision-id, the audit log)")],
    as_json: AsJson = False,
    config: ConfigOption = None,
) -> None:
    """Re-evaluate a recorded decision with the policy version that made it, and show the rules that fired."""
    settings = settings_from(config)

    async def run(db: Database) -> dict[str, Any]:
        try:
            return await decision_event(db, settings, decision_id[:64])
        except ConfigError as exc:
            error(exc.message)
            raise typer.Exit(1) from exc

    found = with_db(settings, run)
    if as_json:
        typer.echo(json.dumps(found, indent=2, default=str))
        return
    typer.echo(f"decision {found['decision_id']} ({found['phase']}, {found['agent']} -> {found['target']})")
    typer.echo(f"policy version {found['policy_version']}: {'allow' if found['answer']['allow'] else 'deny'}")
    for reason in found["answer"]["reasons"]:
        typer.echo(f"  reason: {reason}")
    if not found["same"]:
        typer.echo("  (the re-evaluation differs from what was recorded: see --json)")
    typer.echo("rules that fired:")
    for fired in found["fired"]:
        value = json.dumps(fired["value"], default=str)
        typer.echo(
            f"  {fired['location']:<32} {fired['rule']}"
            + (f"\n  {'':<32} = {value[:200]}" if fired["value"] is not None else "")
        )


def versions_command(as_json: AsJson = False, config: ConfigOption = None) -> None:
    """Every policy version that served: its hash, files, and when it was first and last put in force."""
    settings = settings_from(config)
    found = with_db(settings, lambda db: PolicyVersions(db).all())
    rows = [
        {
            "version": v.version,
            "files": sorted(v.modules),
            "first_served": v.first_served.isoformat(),
            "last_served": v.last_served.isoformat(),
        }
        for v in found
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(f"{row['version']}  {row['first_served']} .. {row['last_served']}  {', '.join(row['files'])}")


async def _count(db: Database, scope: Scope) -> int:
    t = AuditEventRow
    query = scoped(select(func.count()).select_from(t).where(t.event == "decision", t.policy.is_not(None)), scope)
    async with db.engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


def _print(report: Report, as_json: bool, title: str) -> None:
    doc = report.document()
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
        return
    typer.echo(f"{title}: {doc['decisions']} decisions, {doc['changed']} would change, {doc['skipped']} skipped")
    for kind, count in sorted(doc["by_kind"].items()):
        typer.echo(f"  {kind:<16} {count}")
    for group in doc["groups"]:
        typer.echo(f"\n{group['kind']}: {group['why']}  ({group['count']})")
        typer.echo(f"  agents:  {', '.join(f'{a} {n}' for a, n in group['agents'].items())}")
        typer.echo(f"  targets: {', '.join(f'{t} {n}' for t, n in group['targets'].items())}")
        typer.echo(f"  e.g.:    {', '.join(group['examples'])}")
