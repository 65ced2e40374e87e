"""`gateway tools list|approve|diff`: the pinned definitions of upstream MCP tools (rug-pull defence).

The gateway records each tool's definition when it lists the server; `approve` pins what it saw last (so
what an operator reviewed with `diff` is exactly what gets approved), and a changed definition stays
withheld from agents until approved again.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from gateway.cli.common import ConfigOption, error, settings_from, with_db
from gateway.mcp.pins import PinStore

app = typer.Typer(help="MCP tool pins: approve upstream tool definitions.", no_args_is_help=True)


@app.command("list")
def list_pins(
    server: Annotated[str | None, typer.Argument(help="Only this server's tools")] = None, config: ConfigOption = None
) -> None:
    """Each tool the gateway has seen: approved, pending (never approved) or changed since approval."""
    for pin in with_db(settings_from(config), lambda db: PinStore(db).pins(server)):
        by = f"  (approved by {pin.approved_by})" if pin.approved_by else ""
        typer.echo(f"{pin.server:<16} {pin.tool:<32} {pin.state}{by}")


@app.command("approve")
def approve(
    server: Annotated[str, typer.Argument(help="The MCP server (its name under mcp_servers)")],
    tool: Annotated[str | None, typer.Argument(help="One tool (default: every tool of the server)")] = None,
    actor: Annotated[str, typer.Option("--as", help="Who approves (recorded with the pin)")] = "operator",
    config: ConfigOption = None,
) -> None:
    """Pin the definitions last seen from the server (run `gateway tools diff` first to review a change)."""
    settings = settings_from(config)
    if server not in settings.mcp_servers:
        error(f"no MCP server '{server}' in the config")
        raise typer.Exit(2)
    pins = with_db(settings, lambda db: PinStore(db).approve(server, tool, actor))
    if not pins:
        error(f"the gateway has not seen {'tool ' + repr(tool) if tool else 'any tool'} of '{server}' yet")
        raise typer.Exit(1)
    for pin in pins:
        typer.echo(f"approved {pin.server}/{pin.tool}")


@app.command("diff")
def diff(
    server: Annotated[str, typer.Argument()], tool: Annotated[str, typer.Argument()], config: ConfigOption = None
) -> None:
    """What changed in a tool's definition since it was approved, field by field, as JSON."""
    pins = with_db(settings_from(config), lambda db: PinStore(db).pins(server))
    found = [p for p in pins if p.tool == tool]
    if not found:
        error(f"the gateway has not seen tool '{tool}' of '{server}'")
        raise typer.Exit(1)
    pin = found[0]
    changes = pin.changes if pin.state == "changed" else {}
    typer.echo(json.dumps({"state": pin.state, "changes": changes, "seen": pin.seen}, indent=2, ensure_ascii=False))
