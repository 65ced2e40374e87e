"""Operator endpoints: liveness, readiness (a store that takes writes, and the policy engine), Prometheus
metrics (holds pending counted in the store at scrape time: one indexed COUNT per scrape)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.errors import StoreUnavailable
from gateway.limits.report import usage_rows
from gateway.services import Services


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


READY_TIMEOUT_S = 2.0  # a probe answers within this, whatever a dependency does (a silent partition)


async def _within(check: Awaitable[bool]) -> bool:
    try:
        return await asyncio.wait_for(check, READY_TIMEOUT_S)
    except TimeoutError:
        return False


async def readyz(request: Request) -> Response:
    services: Services = request.app.state.pipeline.services
    database, policy = await asyncio.gather(_within(services.db.writable()), _within(services.policy.ready()))
    checks = {"database": database, "policy": policy}
    ready = all(checks.values())
    body = {"status": "ready" if ready else "unready", "checks": checks, "policy_version": services.policy.version}
    return JSONResponse(body, status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    services: Services = request.app.state.pipeline.services
    if services.approvals is not None:
        try:
            pending: int | None = await services.approvals.pending_count()
        except StoreUnavailable:  # a scrape never fails for it: the gauge keeps its last value
            pending = None
        services.metrics.approvals.update(pending, services.approvals.decided)
    if services.limiter is not None and services.limiter.limits.limits:
        try:
            rows: list[Any] | None = await usage_rows(services.limiter)
        except StoreUnavailable:
            rows = None
        services.metrics.usage.update(rows)
    return Response(services.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
