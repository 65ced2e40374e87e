"""`gateway serve`: run the gateway (the embedded defaults and a demo key when no config is given)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn

from gateway.cli.common import ConfigOption, error, settings_from, with_db
from gateway.errors import ConfigError
from gateway.logs import LogFormat, configure
from gateway.server import BoundedHttpToolsProtocol
from gateway.settings import Settings
from gateway.store.db import Database
from gateway.store.keys import KeyStore


def serve(
    config: ConfigOption = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    log_format: Annotated[
        LogFormat,
        typer.Option(
            envvar="GATEWAY_LOG_FORMAT",
            help="text, or json: one JSON object a line with the call's request and decision ids (never PII)",
        ),
    ] = "text",
    workers: Annotated[
        int | None,
        typer.Option(
            envvar="GATEWAY_WORKERS",
            min=1,
            help="processes sharing the port, the store and the policy (default: the number of usable cores)",
        ),
    ] = None,
) -> None:
    """Run the gateway. Without a config: SQLite, embedded Rego, the built-in echo upstream and a demo key."""
    from gateway.app import build_services, create_app

    configure(log_format, log_level)
    settings = settings_from(config)

    async def preflight() -> None:  # fail here, with one clear line, rather than in the server's lifespan
        await (await build_services(settings)).aclose()

    try:
        asyncio.run(preflight())
    except ConfigError as exc:
        error(exc.message)
        raise typer.Exit(1) from exc
    if settings.is_demo:
        _, key = with_db(settings, _rotate_demo_key)
        _banner(settings, host, port, key)
    count = workers or len(os.sched_getaffinity(0))
    app: Any = create_app(settings, own_process=True)
    if count > 1:  # each worker builds the same app from the environment (uvicorn spawns fresh interpreters)
        app = "gateway.app:app_from_environment"
        _share_with_workers(config)
    uvicorn.run(
        app,
        factory=count > 1,
        workers=count,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        log_config=None if log_format == "json" else uvicorn.config.LOGGING_CONFIG,  # json: uvicorn's lines too
        http=BoundedHttpToolsProtocol,  # a request's headers are bounded before they are buffered
        proxy_headers=False,  # the gateway's own trusted_proxies decides whom to believe (uvicorn's trusts 127.0.0.1)
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
    )


def _share_with_workers(config: Path | None) -> None:
    """What worker processes need from this one: the config file's path and a folder where their metrics meet
    (fresh for each start, so counters begin at zero as they do with one process)."""
    if config is not None:
        os.environ["GATEWAY_CONFIG"] = str(config.resolve())
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="gateway-metrics-")


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
