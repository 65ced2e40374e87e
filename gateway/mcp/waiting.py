"""Answering one JSON-RPC request, as JSON or as an SSE stream while it waits.

A client that accepts `text/event-stream` and whose request is still running after `FIRST_WAIT_S` (a call
held for a reviewer, or a slow tool) gets an SSE stream at once: a `notifications/progress` every
`approvals.keepalive_s` when it sent a `progressToken` (an SSE comment otherwise, so proxies keep the
connection), then the answer. A client that leaves ends the call (the pipeline audits the disconnect).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from gateway.mcp.jsonrpc import http_status, notification

FIRST_WAIT_S = 0.5
WAITING = "waiting at the gateway: the call may be held for a reviewer's approval"
Answer = tuple[dict[str, Any], str | None]  # the JSON-RPC message and the decision id


def sse(message: dict[str, Any]) -> bytes:
    return f"event: message\ndata: {json.dumps(message, ensure_ascii=False)}\n\n".encode()


async def respond(
    request: Request, work: Awaitable[Answer], token: Any, every_s: float, modern: bool, headers: dict[str, str]
) -> Response:
    task = asyncio.ensure_future(work)
    if "text/event-stream" in request.headers.get("accept", ""):
        await asyncio.wait({task}, timeout=FIRST_WAIT_S)
    if task.done() or "text/event-stream" not in request.headers.get("accept", ""):
        message, decision_id = await task
        if decision_id:
            headers = {**headers, "x-gateway-decision-id": decision_id}
        return JSONResponse(message, status_code=http_status(message, modern), headers=headers)
    return StreamingResponse(_events(task, token, every_s), media_type="text/event-stream", headers=headers)


async def _events(task: asyncio.Future[Answer], token: Any, every_s: float) -> AsyncIterator[bytes]:
    try:
        progress = 0
        while True:
            done, _ = await asyncio.wait({task}, timeout=every_s)
            if done:
                break
            progress += 1
            if token is None:
                yield b": keep-alive\n\n"
            else:
                params = {"progressToken": token, "progress": progress, "message": WAITING}
                yield sse(notification("notifications/progress", params))
        yield sse(task.result()[0])
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
