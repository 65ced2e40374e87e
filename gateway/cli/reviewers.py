"""`gateway reviewers add|list|disable|token`: the people who decide held calls.

A password (for the web page) is prompted for, or read from stdin with `--password-stdin`; never taken as
an argument, where it would sit in the shell history and the process list.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gateway.approvals.reviewers import ReviewerStore, check_owned
from gateway.cli.common import ConfigOption, error, settings_from, with_db
from gateway.store.db import Database

app = typer.Typer(help="Reviewer accounts for the approval queue.", no_args_is_help=True)

NameArgument = Annotated[str, typer.Argument(help="Reviewer name (the sign-in name)")]


@app.command("add")
def add(
    name: NameArgument,
    group: Annotated[list[str], typer.Option(help="Approvers group the reviewer decides for; repeatable")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin")] = False,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="No web sign-in (API tokens or single sign-on only)")
    ] = False,
    owns: Annotated[
        list[str] | None,
        typer.Option(help="agent:NAME, team:NAME or key:KEY_ID this person runs: never their reviewer; repeatable"),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Add a reviewer, or add groups to one (and set a new password). Re-adding a disabled one enables it.
    Four eyes: a reviewer's vote is refused on a hold asked for by an agent, team or key they own."""
    if not name.strip():
        raise typer.BadParameter("the reviewer name must not be empty", param_hint="NAME")
    for entry in owns or []:
        try:
            check_owned(entry)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--owns") from exc
    if password_stdin and no_password:
        raise typer.BadParameter("--password-stdin and --no-password exclude each other")
    settings = settings_from(config)  # a bad config is reported before anyone types a password
    password = None if no_password else _password(password_stdin)
    reviewer = with_db(settings, lambda db: ReviewerStore(db).add(name, group, password, owns))
    typer.echo(f"reviewer {reviewer.name!r} decides for: {', '.join(reviewer.groups)}")
    if owns:
        typer.echo(f"and never for what they own: {', '.join(owns)}")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.read().rstrip("\r\n")  # `echo pw |` adds a newline that is not part of it
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        error("the password must not be empty")
        raise typer.Exit(1)
    return password


@app.command("list")
def list_reviewers(config: ConfigOption = None) -> None:
    """List active reviewers and their groups."""
    reviewers = with_db(settings_from(config), lambda db: ReviewerStore(db).all())
    if not reviewers:
        typer.echo("no reviewers (add one with `gateway reviewers add NAME --group GROUP`)")
        return
    table = Table("NAME", "GROUPS", box=None, pad_edge=False)
    for reviewer in sorted(reviewers, key=lambda r: r.name):
        table.add_row(reviewer.name, ", ".join(reviewer.groups) or "-")
    Console(width=None if sys.stdout.isatty() else 200).print(table)


@app.command("disable")
def disable(name: NameArgument, config: ConfigOption = None) -> None:
    """Disable a reviewer: no sign-in, no decisions, and every API token of theirs revoked."""
    if not with_db(settings_from(config), lambda db: ReviewerStore(db).disable(name)):
        error(f"no reviewer named {name!r}")
        raise typer.Exit(1)
    typer.echo(f"disabled reviewer {name!r} and revoked their tokens")


@app.command("token")
def token(name: NameArgument, config: ConfigOption = None) -> None:
    """Issue an admin API token for a reviewer. It is shown once (alone on the last line); only its hash is kept."""

    async def issue(db: Database) -> str | None:
        store = ReviewerStore(db)
        if await store.get(name) is None:
            return None
        return await store.create_token(name)

    issued = with_db(settings_from(config), issue)
    if issued is None:
        error(f"no active reviewer named {name!r} (add one with `gateway reviewers add`)")
        raise typer.Exit(1)
    typer.echo(f"created an admin API token for reviewer {name!r} (send it as Authorization: Bearer)")
    typer.echo(issued)
