"""What every command group shares: the --config option, loading settings, opening the store, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from gateway.errors import ConfigError
from gateway.settings import Settings, load_settings
from gateway.store.db import Database

T = TypeVar("T")

ConfigOption = Annotated[Path | None, typer.Option("--config", help="Config file (or GATEWAY_CONFIG).")]


def error(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg="red")


def settings_from(config: Path | None) -> Settings:
    """The settings, or exit 2 naming what is wrong with the config."""
    try:
        return load_settings(config)
    except ConfigError as exc:
        error(exc.message)
        raise typer.Exit(2) from exc


def with_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work` against the store (migrated to the newest schema first), or exit 2 if it is not usable."""

    async def run() -> T:
        db = Database(settings.database_url, settings.database_timeout_s)
        try:
            await db.migrate()
            return await work(db)
        finally:
            await db.aclose()

    try:
        return asyncio.run(run())
    except ConfigError as exc:
        error(exc.message)
        raise typer.Exit(2) from exc
