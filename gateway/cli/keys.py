"""`gateway keys create|list|revoke`: agent keys (stored as hashes; a key is shown once)."""

from __future__ import annotations

from typing import Annotated

import typer

from gateway.cli.common import ConfigOption, settings_from, with_db
from gateway.store.keys import KeyStore

app = typer.Typer(help="Agent keys.", no_args_is_help=True)


@app.command("create")
def create(
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
    key_id, key = with_db(settings_from(config), lambda db: KeyStore(db).create(agent, team, labels))
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


@app.command("list")
def list_keys(config: ConfigOption = None) -> None:
    """List keys (never the keys themselves)."""
    for row in with_db(settings_from(config), lambda db: KeyStore(db).list()):
        state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
        typer.echo(f"{row.key_id}  {row.agent:<24} {row.team or '-':<16} {state}")


@app.command("revoke")
def revoke(
    agent: Annotated[str, typer.Option(help="Revoke every key of this agent")], config: ConfigOption = None
) -> None:
    count = with_db(settings_from(config), lambda db: KeyStore(db).revoke_agent(agent))
    typer.echo(f"revoked {count} key(s) of agent {agent!r}")
