#!/usr/bin/env python3
"""A static OpenAI-compatible upstream for benchmarks: POST /v1/chat/completions answers one fixed completion.

python bench/upstream.py --port 9000    # loopback only; no model, no work, no logging
"""

from __future__ import annotations

import argparse
import json

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

COMPLETION = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "bench-model",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}
BODY = json.dumps(COMPLETION).encode()


async def chat_completions(request: Request) -> Response:
    await request.body()  # read the request as a real server would
    return Response(BODY, media_type="application/json")


app = Starlette(routes=[Route("/v1/chat/completions", chat_completions, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
