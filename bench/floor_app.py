#!/usr/bin/env python3
"""The ladder's floor: the gateway's HTTP server and HTTP client with nothing between them.

    python bench/floor_app.py --port 8080 --upstream http://127.0.0.1:9000/v1/chat/completions

One Starlette route on the server `gateway serve` runs (uvicorn, httptools, uvloop,
`gateway.server.BoundedHttpToolsProtocol`): it reads the posted body, parses the JSON, posts it to
`--upstream` with a pooled aiohttp session built as `connectors.http.new_client` builds it, and answers the
upstream's JSON. No key, no policy, no audit: what the chosen server and client cost by themselves, so the
other rungs of bench/ladder.py can be read against it. An Authorization header is ignored.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.http import new_client
from gateway.server import BoundedHttpToolsProtocol

TIMEOUT = aiohttp.ClientTimeout(total=30)


def create_app(upstream: str) -> Starlette:
    """The one-route forwarder; its session lives in the lifespan, as the gateway's connectors' does."""

    async def forward(request: Request) -> Response:
        body = json.loads(await request.body())
        client: aiohttp.ClientSession = request.app.state.client
        async with client.post(upstream, json=body, timeout=TIMEOUT) as resp:
            status, raw = resp.status, await resp.read()
        return JSONResponse(json.loads(raw), status)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.client = new_client()
        try:
            yield
        finally:
            await app.state.client.close()

    return Starlette(routes=[Route("/v1/chat/completions", forward, methods=["POST"])], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the upstream's chat completions URL")
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.upstream),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        http=BoundedHttpToolsProtocol,
        loop="uvloop",
    )


if __name__ == "__main__":
    main()
