"""`gateway usage`: what each limit's counters stand at, and `reset`/`set` to change one (audited).

    gateway usage [--agent A] [--team T] [--limit NAME] [--json]
    gateway usage reset NAME --subject team=research [--measure spend_usd]
    gateway usage set NAME --subject team=research --measure spend_usd --used 12.5

A counter is one measure (requests, tokens, spend_usd, concurrent) of one limit for one subject (`team=research`,
or `agent=bob` under a `*` match) in the window now running. A change is written to the audit log with who made
it (the operating system user) and the values before and after.
"""

from __future__ import annotations

import getpass
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from gateway.audit.records import AuditLog
from gateway.cli.common import ConfigOption, error, settings_from, with_db
from gateway.errors import GatewayError
from gateway.limits.config import LimitConfig
from gateway.limits.limiter import Limiter, Limits
from gateway.limits.report import NANO, adjusted, usage_rows
from gateway.settings import Settings
from gateway.store.db import Database

app = typer.Typer(help="Usage against the configured limits: see it, reset or adjust it.")

MEASURES = {"requests": "requests", "tokens": "tokens", "spend_usd": "spend", "concurrent": "concurrent"}
SubjectOption = Annotated[str, typer.Option(help="Whose counter: as `gateway usage` lists it, e.g. team=research")]


@app.callback(invoke_without_command=True)
def show(
    ctx: typer.Context,
    agent: Annotated[str | None, typer.Option(help="Only counters of this agent")] = None,
    team: Annotated[str | None, typer.Option(help="Only counters of this team")] = None,
    limit: Annotated[str | None, typer.Option(help="Only this limit")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array instead of a table")] = False,
    config: ConfigOption = None,
) -> None:
    """The counters of every window now running, with each limit's maximum and what remains."""
    if ctx.invoked_subcommand is not None:
        return
    settings = settings_from(config)

    async def run(db: Database) -> list[dict[str, Any]]:
        return await usage_rows(Limiter(db, Limits.of(settings)), agent, team, limit)

    rows = _or_exit(settings, run)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("limit", "subject", "measure", "per", "used", "reserved", "max", "remaining", "resets")
    for row in rows:
        figures = [_figure(row[k]) for k in ("used", "reserved", "max", "remaining")]
        table.add_row(row["limit"], row["subject"], row["measure"], row["per"] or "", *figures, row["window_end"] or "")
    Console(width=200).print(table)


@app.command()
def reset(
    name: Annotated[str, typer.Argument(help="The limit (as `gateway usage` names it)")],
    subject: SubjectOption,
    measure: Annotated[
        str | None, typer.Option(help="requests, tokens, spend_usd or concurrent (default: all)")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Set a limit's counters for one subject back to zero in the running window."""
    limit, settings = _limit(name, config)
    measures = [_measure(measure)] if measure else [m for m in MEASURES.values() if _has(limit, m)]
    for each in measures:
        _set(settings, limit, subject, each, 0)


@app.command("set")
def set_used(
    name: Annotated[str, typer.Argument(help="The limit (as `gateway usage` names it)")],
    subject: SubjectOption,
    measure: Annotated[str, typer.Option(help="requests, tokens, spend_usd or concurrent")],
    used: Annotated[float, typer.Option(help="The settled usage to record (US dollars for spend_usd)")],
    config: ConfigOption = None,
) -> None:
    """Set one counter's settled usage in the running window (a refund, or usage spent elsewhere)."""
    limit, settings = _limit(name, config)
    counter = _measure(measure)
    if used < 0 or (counter != "spend" and used != int(used)):
        error("--used must be a whole number at or above zero (a dollar amount for spend_usd)")
        raise typer.Exit(2)
    _set(settings, limit, subject, counter, int(round(used * NANO)) if counter == "spend" else int(used))


def _set(settings: Settings, limit: LimitConfig, subject: str, measure: str, used: int) -> None:
    if not _has(limit, measure):
        error(f"limit {limit.label!r} has no {measure} measure")
        raise typer.Exit(2)

    async def run(db: Database) -> None:
        before = await Limiter(db, Limits.of(settings)).set_used(limit, subject, measure, used)
        scale = NANO if measure == "spend" else 1
        name = "spend_usd" if measure == "spend" else measure
        event = adjusted(f"cli:{_user()}", "cli", limit.label, subject, name, before / scale, used / scale)
        log = AuditLog.from_settings(db, settings)
        try:
            if not await log.write([event.row()]):
                error("the change could not be recorded in the audit log")
                raise typer.Exit(1)
        finally:
            await log.aclose()
        typer.echo(event.reasons[0])

    _or_exit(settings, run)


def _limit(name: str, config: Any) -> tuple[LimitConfig, Settings]:
    settings = settings_from(config)
    found = next((limit for limit in settings.limits if limit.label == name), None)
    if found is None:
        error(f"no limit named {name!r}; configured: {', '.join(each.label for each in settings.limits) or 'none'}")
        raise typer.Exit(2)
    return found, settings


def _measure(name: str) -> str:
    if name not in MEASURES:
        error(f"unknown measure {name!r}: one of {', '.join(MEASURES)}")
        raise typer.Exit(2)
    return MEASURES[name]


def _has(limit: LimitConfig, measure: str) -> bool:
    return bool({"requests": limit.requests, "tokens": limit.tokens, "spend": limit.spend_usd}.get(measure)) or (
        measure == "concurrent" and limit.concurrent is not None
    )


def _or_exit(settings: Settings, work: Any) -> Any:
    try:
        return with_db(settings, work)
    except GatewayError as exc:
        error(exc.message)
        raise typer.Exit(1) from exc


def _figure(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.6f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
