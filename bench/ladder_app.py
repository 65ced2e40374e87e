#!/usr/bin/env python3
"""The gateway with some of its stages left out, for the lower rungs of bench/ladder.py only.

    python bench/ladder_app.py --config gateway.yaml --port 8080 --step passthrough|policy|pii

The product has no switch that skips policy or audit (every call is decided and audited); the ladder
needs to know what each costs, so this launcher runs the same app as `gateway serve` and swaps in a
pipeline of fewer stages after start-up:

    passthrough   authenticate, parse, route                      (no decision, no audit)
    policy        + decide on the request and on the answer       (no audit)
    pii           + inspect and redact, request and answer        (no audit)

The full pipeline (every stage, durable audit) is plain `gateway serve`.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.pipeline import Pipeline, RequestStage, ResponseStage
from gateway.server import BoundedHttpToolsProtocol
from gateway.settings import load_settings
from gateway.stages.authenticate import authenticate
from gateway.stages.decide import decide, decide_response
from gateway.stages.inspect import inspect
from gateway.stages.parse import parse
from gateway.stages.redact import redact, redact_response
from gateway.stages.route import route

STEPS: dict[str, tuple[tuple[RequestStage, ...], tuple[ResponseStage, ...]]] = {
    "passthrough": ((authenticate, parse, route), ()),
    "policy": ((authenticate, parse, decide, route), (decide_response,)),
    "pii": ((authenticate, parse, inspect, decide, redact, route), (redact_response, decide_response)),
}


def _not_written(rows: list[dict[str, Any]]) -> asyncio.Future[bool]:
    done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    done.set_result(True)  # these rungs measure the stages before audit: nothing is written
    return done


def app_for(config: Path, step: str) -> Starlette:
    app = create_app(load_settings(config), own_process=True)  # as `gateway serve` makes it
    full = app.router.lifespan_context
    request_stages, response_stages = STEPS[step]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with full(app):
            services = app.state.pipeline.services
            services.audit.submit = _not_written
            app.state.pipeline = Pipeline(services, request_stages, response_stages)
            yield

    app.router.lifespan_context = lifespan
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--step", choices=sorted(STEPS), required=True)
    args = parser.parse_args()
    app = app_for(args.config, args.step)
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, http=BoundedHttpToolsProtocol
    )


if __name__ == "__main__":
    main()
