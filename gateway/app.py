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
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from connectors.http import new_client
from gateway import listing, rendering
from gateway.a2a import surface as a2a_surface
from gateway.a2a.forward import AGENTS
from gateway.a2a.hub import AgentHub
from gateway.approvals import api as approvals_api
from gateway.approvals import console as approvals_console
from gateway.approvals import web as approvals_web
from gateway.approvals.cipher import PayloadCipher
from gateway.approvals.notifier import WebhookNotifier
from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.reviewers import ReviewerStore
from gateway.audit import api as audit_api
from gateway.audit.records import AuditLog
from gateway.clock import Clock, SystemClock
from gateway.enforcement import Capabilities
from gateway.errors import ConfigError, StoreUnavailable
from gateway.guards.injection import InjectionDetector
from gateway.guards.screen import InjectionScreen
from gateway.limits import api as limits_api
from gateway.limits.limiter import Limiter, Limits
from gateway.limits.reload import watch_limits
from gateway.mcp import methods as mcp_methods
from gateway.mcp import surface as mcp_surface
from gateway.mcp.forward import TOOLS
from gateway.mcp.hub import McpHub
from gateway.metrics import Metrics
from gateway.model import Decision, Kind
from gateway.pii.service import PiiService
from gateway.pipeline import Pipeline
from gateway.policy import api as policy_api
from gateway.policy.engine import PolicyEngine
from gateway.policy.factory import build_engine, load_checked, watch
from gateway.policy.shadow import Shadow
from gateway.policy.versions import PolicyVersions
from gateway.proxies import ProxyHeaders, TrustedProxies
from gateway.services import Services, UpstreamKind
from gateway.sessions.store import SessionStore
from gateway.settings import Settings, load_settings
from gateway.stages.decide import evaluate
from gateway.stages.forward import MODELS
from gateway.stages.served import served
from gateway.store.db import Database
from gateway.store.keys import KeyStore
from gateway.surfaces import anthropic, held, openai, ops, responses, unknown
from gateway.tracing import Tracing

log = logging.getLogger("gateway")


def upstream_kinds() -> dict[Kind, UpstreamKind]:
    """Where each kind of call goes: model providers (routes), MCP servers, other agents, and what the gateway
    answers itself (reads of what it keeps, listings), each operation by the surface that serves it."""
    return {
        "model": MODELS,
        "embeddings": MODELS,
        "tool": TOOLS,
        "agent": AGENTS,
        "read": served({**responses.READS, **a2a_surface.READS, **held.READS}),
        "list": served({"models": listing.models, **mcp_methods.LISTS}),
    }


async def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    """Every service, built once; what must be closed goes on one exit stack (closed last built first, also
    when building fails half way). `clock`: the time they go by (a test's `FakeClock`; the real one if None)."""
    clock = clock or SystemClock()
    stack = AsyncExitStack()
    try:
        db = Database(settings.database_url, settings.database_timeout_s)
        stack.push_async_callback(db.aclose)
        await db.migrate()
        policy = await build_engine(settings.policy)
        stack.push_async_callback(policy.aclose)
        pii = PiiService.from_settings(settings)
        metrics = Metrics()
        audit = AuditLog.from_settings(db, settings, metrics, clock)
        stack.push_async_callback(audit.aclose)
        approvals = _approvals(settings, db, audit, policy, metrics, clock)
        if approvals is not None:
            stack.push_async_callback(approvals.aclose)
        tracing = Tracing.from_env()
        stack.callback(tracing.shutdown)
        http = new_client()
        stack.push_async_callback(http.close)
        notifier = None
        if approvals is not None and settings.approvals.webhook is not None:
            notifier = WebhookNotifier(settings.approvals.webhook, approvals, http, settings.approvals.public_url)
            stack.push_async_callback(notifier.aclose)
        mcp = McpHub.build(settings, db, audit, clock)
        stack.push_async_callback(mcp.aclose)
        limiter = Limiter(db, Limits.of(settings), clock)
        stack.push_async_callback(limiter.aclose)
        shadow = _shadow(settings, audit, metrics, pii)
        if shadow is not None:
            stack.push_async_callback(shadow.aclose)
    except BaseException:
        await stack.aclose()
        raise
    for name, provider in settings.providers.items():
        if provider.api_key_env and provider.api_key() is None:
            log.warning(
                "provider %s: environment variable %s is not set; calls go without a key", name, provider.api_key_env
            )
    return Services(
        settings=settings,
        db=db,
        keys=KeyStore(db, metrics=metrics, clock=clock),
        audit=audit,
        policy=policy,
        http=http,
        metrics=metrics,
        capabilities=Capabilities(redactable=pii.supported if pii else frozenset(), approvals=approvals is not None),
        pii=pii,
        approvals=approvals,
        reviewers=ReviewerStore(db, clock),
        notifier=notifier,
        tracing=tracing,
        mcp=mcp,
        a2a=AgentHub.build(settings, http),  # agents (A2A, plain HTTP) at /a2a/{name}
        limiter=limiter,
        shadow=shadow,
        versions=PolicyVersions(db, clock),
        sessions=SessionStore(db, settings.sessions, clock) if settings.sessions.enabled else None,
        injection=InjectionScreen(InjectionDetector(guard.threshold))
        if (guard := settings.guards.injection).enabled
        else None,
        kinds=upstream_kinds(),
        clock=clock,
        closing=stack,
    )


async def _keep_version(services: Services, settings: Settings) -> None:
    """Keep the policy version now serving (an OPA server that loads its own bundle serves what it has)."""
    if services.versions is None:
        return
    try:
        source = load_checked(settings.policy)
        if source.version == services.policy.version:
            await services.versions.served(source)
    except (ConfigError, StoreUnavailable) as exc:
        log.warning("policy version %s not kept: %s", services.policy.version, exc.message)


def _shadow(settings: Settings, audit: AuditLog, metrics: Metrics, pii: PiiService | None) -> Shadow | None:
    """The candidate policy evaluated beside the enforced one (`policy.shadow`), if one is configured."""
    if settings.policy.shadow is None:
        return None
    shadow = Shadow.from_dir(settings.policy.shadow, audit, metrics, pii.scrubbers if pii else None)
    log.warning(
        "shadow policy %s (version %s) evaluated beside the enforced one", settings.policy.shadow, shadow.version
    )
    return shadow


def _approvals(
    settings: Settings, db: Database, audit: AuditLog, policy: PolicyEngine, metrics: Metrics, clock: Clock
) -> ApprovalQueue | None:
    """The approval queue; a reviewer's approval re-asks the current policy with the held call's input."""
    if not settings.approvals.enabled:
        return None

    async def recheck(input_doc: dict[str, Any]) -> Decision:
        return await evaluate(policy, input_doc, settings.policy, metrics)

    return ApprovalQueue(db, settings.approvals, PayloadCipher.from_settings(settings), audit, recheck, clock)


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


def create_app(settings: Settings, own_process: bool = False, clock: Clock | None = None) -> Starlette:
    """The ASGI app. Services live in the lifespan, so two apps can run in one process. `own_process`: the app
    is all its process runs (`gateway serve`): the garbage collector is tuned for it once it has started.
    `clock`: the time the services go by (a test passes a `gateway.clock.FakeClock` and moves it).

    >>> app = create_app(Settings())  # doctest: +SKIP
    >>> uvicorn.run(app)  # doctest: +SKIP
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await build_services(settings, clock)
        app.state.pipeline = Pipeline(services)  # handlers reach the services through it, one way
        if services.mcp is not None:
            services.mcp.start()  # stdio servers are launched now, HTTP servers connected
        if services.notifier is not None:
            services.notifier.attach()
        services.audit.start()
        if services.approvals is not None:
            await services.approvals.start()
        await _keep_version(services, settings)
        log.info("gateway ready: policy %s (%s engine)", services.policy.version, settings.policy.engine)
        if own_process:
            tune_collector()
        watchers = [asyncio.create_task(services.limiter.sweeping())] if services.limiter is not None else []
        if settings.policy.reload:
            kept = services.versions.served if services.versions is not None else None
            watchers.append(asyncio.create_task(watch(services.policy, settings.policy, served=kept)))
            if settings.config_file is not None and services.limiter is not None:
                limits = watch_limits(services.limiter, settings.config_file, services.clock)
                watchers.append(asyncio.create_task(limits))
        try:
            yield
        finally:
            for watcher in watchers:
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
            *approvals_console.routes,
            *approvals_api.routes,
            *audit_api.routes,
            *limits_api.routes,
            *policy_api.routes,
            *mcp_surface.routes,
            *a2a_surface.routes,
        ],
        lifespan=lifespan,
        middleware=[Middleware(ProxyHeaders, proxies=TrustedProxies.from_settings(settings))],
        exception_handlers={HTTPException: unknown.unknown_path, Exception: rendering.unexpected},
    )
