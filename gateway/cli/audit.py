"""`gateway audit export`: the audit log as JSON lines or CSV, oldest first, streamed."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.audit.events import EXPORT_FIELDS
from gateway.audit.records import AuditLog
from gateway.cli.common import ConfigOption, settings_from, with_db
from gateway.store.db import Database

app = typer.Typer(help="The audit log.", no_args_is_help=True)


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time") from exc


@app.command("export")
def export(
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv")] = "jsonl",
    since: Annotated[str | None, typer.Option(help="ISO time, inclusive")] = None,
    until: Annotated[str | None, typer.Option(help="ISO time, exclusive")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="File (default: stdout)")] = None,
    config: ConfigOption = None,
) -> None:
    """Export audit events, oldest first."""
    if fmt not in ("jsonl", "csv"):
        raise typer.BadParameter("--format must be jsonl or csv")
    start, end = _parse_time(since), _parse_time(until)

    stream = out.open("w", newline="") if out else sys.stdout

    async def run(db: Database) -> None:
        writer = _row_writer(fmt, stream)
        async for row in AuditLog(db).read(start, end):
            writer(row)

    try:
        with_db(settings_from(config), run)
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
