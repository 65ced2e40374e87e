"""create_app(settings): routes, lifespan (where every service is built), error handlers. No logic here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connectors.http import new_client
from gateway.audit.records import AuditLog
from gateway.enforcement import Capabilities
from gateway.metrics import Metrics
from gateway.pii.service import PiiService
from gateway.pipeline import Pipeline
from gateway.policy.factory import build_engine, watch
from gateway.services import Services
from gateway.settings import Settings
from gateway.store.db import Database
from gateway.store.keys import KeyStore
from gateway.surfaces import anthropic, openai, ops

log = logging.getLogger("gateway")


async def build_services(settings: Settings) -> Services:
    db = Database(settings.database_url)
    try:
        await db.migrate()
        policy = await build_engine(settings.policy)
    except BaseException:
        await db.aclose()
        raise
    try:
        pii = PiiService.from_settings(settings)
    except BaseException:
        await policy.aclose()
        await db.aclose()
        raise
    metrics = Metrics()
    for name, provider in settings.providers.items():
        if provider.api_key_env and provider.api_key() is None:
            log.warning(
                "provider %s: environment variable %s is not set; calls go without a key", name, provider.api_key_env
            )
    return Services(
        settings=settings,
        db=db,
        keys=KeyStore(db),
        audit=AuditLog(db, metrics),
        policy=policy,
        http=new_client(),
        metrics=metrics,
        capabilities=Capabilities(redactable=pii.supported if pii else frozenset()),
        pii=pii,
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", "error")
    if request.url.path.startswith("/v1/messages"):
        return JSONResponse({"type": "error", "error": {"type": "not_found_error", "message": detail}}, status)
    return JSONResponse(
        {"error": {"message": detail, "type": "invalid_request_error", "param": None, "code": str(status)}}, status
    )


def create_app(settings: Settings) -> Starlette:
    """The ASGI app. Services live in the lifespan, so two apps can run in one process.

    >>> app = create_app(Settings())  # doctest: +SKIP
    >>> uvicorn.run(app)  # doctest: +SKIP
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await build_services(settings)
        app.state.services = services
        app.state.pipeline = Pipeline(services)
        log.info("gateway ready: policy %s (%s engine)", services.policy.version, settings.policy.engine)
        watcher = asyncio.create_task(watch(services.policy, settings.policy)) if settings.policy.reload else None
        try:
            yield
        finally:
            if watcher:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            await services.aclose()

    return Starlette(
        routes=[*openai.routes, *anthropic.routes, *ops.routes],
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error},
    )
