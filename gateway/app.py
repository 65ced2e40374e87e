"""create_app(settings): routes, lifespan (where every service is built), error handlers. No logic here."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from connectors.http import new_client
from gateway.a2a import surface as a2a_surface
from gateway.a2a.upstream import AgentHub
from gateway.approvals import api as approvals_api
from gateway.approvals import web as approvals_web
from gateway.approvals.cipher import PayloadCipher
from gateway.approvals.notifier import WebhookNotifier
from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.reviewers import ReviewerStore
from gateway.audit import api as audit_api
from gateway.audit.records import AuditLog
from gateway.enforcement import Capabilities
from gateway.mcp import surface as mcp_surface
from gateway.mcp.hub import McpHub
from gateway.metrics import Metrics
from gateway.model import Decision
from gateway.pii.service import PiiService
from gateway.pipeline import Pipeline
from gateway.policy.engine import PolicyEngine
from gateway.policy.factory import build_engine, watch
from gateway.services import Services
from gateway.sessions.store import SessionStore
from gateway.settings import Settings, load_settings
from gateway.stages.decide import evaluate
from gateway.store.db import Database
from gateway.store.keys import KeyStore
from gateway.surfaces import anthropic, held, openai, ops, responses, unknown

log = logging.getLogger("gateway")


async def build_services(settings: Settings) -> Services:
    db = Database(settings.database_url, settings.database_timeout_s)
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
    try:
        audit = AuditLog.from_settings(db, settings, metrics)
        approvals = _approvals(settings, db, audit, policy, metrics)
    except BaseException:
        await policy.aclose()
        await db.aclose()
        raise
    for name, provider in settings.providers.items():
        if provider.api_key_env and provider.api_key() is None:
            log.warning(
                "provider %s: environment variable %s is not set; calls go without a key", name, provider.api_key_env
            )
    services = Services(
        settings=settings,
        db=db,
        keys=KeyStore(db),
        audit=audit,
        policy=policy,
        http=new_client(),
        metrics=metrics,
        capabilities=Capabilities(redactable=pii.supported if pii else frozenset(), approvals=approvals is not None),
        pii=pii,
        approvals=approvals,
        reviewers=ReviewerStore(db),
    )
    if approvals is not None and settings.approvals.webhook is not None:
        services.notifier = WebhookNotifier(
            settings.approvals.webhook, approvals, services.http, settings.approvals.public_url
        )
        services.notifier.attach()
    return services


def _approvals(
    settings: Settings, db: Database, audit: AuditLog, policy: PolicyEngine, metrics: Metrics
) -> ApprovalQueue | None:
    """The approval queue; a reviewer's approval re-asks the current policy with the held call's input."""
    if not settings.approvals.enabled:
        return None

    async def recheck(input_doc: dict[str, Any]) -> Decision:
        return await evaluate(policy, input_doc, settings.policy, metrics)

    return ApprovalQueue(db, settings.approvals, PayloadCipher.from_settings(settings), audit, recheck)


def app_from_environment() -> Starlette:
    """The app of one `gateway serve --workers N` worker process: the settings `serve` read, found again from
    the environment it passes down (GATEWAY_CONFIG and the other GATEWAY_* variables)."""
    end_with_parent()
    return create_app(load_settings(), own_process=True)


def end_with_parent(every_s: float = 0.1) -> None:
    """A worker ends when the process that started it dies: killed with SIGKILL, `gateway serve` cannot stop its
    workers, and they would go on serving the port unsupervised, so that a restarted server could not bind it.
    A daemon thread notices the worker's parent change (the orphan is adopted by init or a subreaper) and sends
    the worker SIGTERM: it stops listening at once and finishes the calls in flight, as on any shutdown."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        log.error("the server process %d is gone: this worker stops", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def tune_collector() -> None:
    """Python's cyclic garbage collector, set for a server once it has started (`gateway serve`'s processes).

    What start-up built (Presidio, the policy engine, schemas, SQLAlchemy: ~250k objects) lives as long as the
    process: frozen out of the collector's sight, a full collection scans only what calls made (~200 ms
    otherwise, a stall that every call in flight waits out: the ladder's P99). And the youngest generation is
    collected after 7,000 net allocations instead of 700: a call's objects die by reference counting, so the
    default ran ~25 collections a second under load for nothing (~2% of the CPU); cycles still are found."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(7000, 10, 10)


async def _close(services: Services, timeout_s: float) -> None:
    """Close the services within a deadline: a store that stopped answering must not keep the process alive."""
    try:
        await asyncio.wait_for(services.aclose(), timeout_s)
    except TimeoutError:
        log.error("shutdown: the services did not close within %.0f s; exiting anyway", timeout_s)


def create_app(settings: Settings, own_process: bool = False) -> Starlette:
    """The ASGI app. Services live in the lifespan, so two apps can run in one process. `own_process`: the app
    is all its process runs (`gateway serve`): the garbage collector is tuned for it once it has started.

    >>> app = create_app(Settings())  # doctest: +SKIP
    >>> uvicorn.run(app)  # doctest: +SKIP
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await build_services(settings)
        app.state.services = services
        app.state.pipeline = Pipeline(services)
        services.mcp = McpHub.build(settings, services.db, services.audit)
        services.mcp.start()  # stdio servers are launched now, HTTP servers connected
        services.a2a = AgentHub.build(settings, services.http)  # agents (A2A, plain HTTP) at /a2a/{name}
        services.sessions = SessionStore(services.db, settings.sessions) if settings.sessions.enabled else None
        services.audit.start()
        if services.approvals is not None:
            await services.approvals.start()
        log.info("gateway ready: policy %s (%s engine)", services.policy.version, settings.policy.engine)
        if own_process:
            tune_collector()
        watcher = asyncio.create_task(watch(services.policy, settings.policy)) if settings.policy.reload else None
        try:
            yield
        finally:
            if watcher:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            await _close(services, settings.shutdown_timeout_s)

    return Starlette(
        routes=[
            *openai.routes,
            *responses.routes,
            *anthropic.routes,
            *held.routes,
            *ops.routes,
            *approvals_web.routes,
            *approvals_api.routes,
            *audit_api.routes,
            *mcp_surface.routes,
            *a2a_surface.routes,
        ],
        lifespan=lifespan,
        exception_handlers={HTTPException: unknown.unknown_path},
    )
