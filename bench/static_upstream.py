#!/usr/bin/env python3
"""A static OpenAI-compatible upstream for benchmarks, cheap enough not to be what is measured (~0.03 ms).

Any POST gets one fixed chat completion; a body with `"stream": true` gets it as an SSE stream of a role
chunk, `--chunks` content chunks and `[DONE]`. HTTP/1.1 keep-alive, Content-Length bodies only, no
routing, no logging: a raw asyncio protocol (uvloop when installed), so a load generator can drive it at
tens of thousands of requests a second on one core.

    python bench/static_upstream.py --port 9000 [--chunks 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

COMPLETION = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "bench-model",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}


def _chunk(delta: dict[str, str], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    body = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1, "model": "bench-model"}
    return b"data: " + json.dumps({**body, "choices": [choice]}).encode() + b"\n\n"


def _answer(body: bytes, headers: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\n" + headers + b"content-length: %d\r\n\r\n" % len(body) + body


def answers(chunks: int) -> tuple[bytes, bytes]:
    """The whole answer and the streamed one, rendered once."""
    whole = _answer(json.dumps(COMPLETION).encode(), b"content-type: application/json\r\n")
    events = [_chunk({"role": "assistant", "content": ""})]
    words = ["Sure, ", "here ", "is ", "the ", "summary ", "you ", "asked ", "for. "]  # no digits: plain prose
    events += [_chunk({"content": words[i % len(words)]}) for i in range(chunks)]
    events += [_chunk({}, "stop"), b"data: [DONE]\n\n"]
    streamed = _answer(b"".join(events), b"content-type: text/event-stream\r\n")
    return whole, streamed


class Static(asyncio.Protocol):
    def __init__(self, whole: bytes, streamed: bytes) -> None:
        self.whole, self.streamed = whole, streamed
        self.buffer = b""
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport subclasses

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].lower()
            length = 0
            if (at := head.find(b"content-length:")) >= 0:
                length = int(head[at + 15 :].split(b"\r\n", 1)[0])
            if len(self.buffer) < end + 4 + length:
                return  # the rest of the body is still on its way
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            wants_stream = b'"stream":true' in body.replace(b" ", b"")
            self.transport.write(self.streamed if wants_stream else self.whole)


async def serve(port: int, chunks: int) -> None:
    whole, streamed = answers(chunks)
    server = await asyncio.get_running_loop().create_server(lambda: Static(whole, streamed), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=8, help="content chunks in a streamed answer")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.port, args.chunks))
    else:
        uvloop.run(serve(args.port, args.chunks))


if __name__ == "__main__":
    main()
