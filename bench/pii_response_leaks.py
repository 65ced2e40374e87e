#!/usr/bin/env python3
"""Personal data in what the model says, through the real gateway with its default policy and PII settings.

A stand-in provider streams an answer that holds values the caller never sent (an email, a phone number, a card,
an SSN, a key), split across two SSE events at every offset of each value, once per offset; and echoes the
caller's own email, which the gateway sent it pseudonymized (`pii.modes: {EMAIL_ADDRESS: pseudonymize}`) on an
external route. Printed: how many of the model's own values reached the agent (leaks; goal 0), and how often
the caller's own value came back restored (goal 100%), streamed and whole.

    python bench/pii_response_leaks.py
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.pii_corpus import serve  # noqa: E402
from gateway.app import create_app  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from gateway.store.db import Database  # noqa: E402
from gateway.store.keys import KeyStore  # noqa: E402

EMITTED = ["ops@leaky-corp.com", "(415) 555-2671", "4111 1111 1111 1111", "536-22-8456", "AKIAIOSFODNN7EXAMPLE"]
CALLER = "jane.roe@example.com"


def answer_for(body: dict[str, Any]) -> tuple[str, int]:
    """The answer's text and where to cut it: `value index:offset` in the prompt picks one of EMITTED."""
    prompt = str(body["messages"][-1]["content"])
    echo = prompt.split("my address is ")[-1].split()[0] if "my address is " in prompt else ""
    which, _, offset = prompt.split("cut ")[-1].partition(":")
    value = EMITTED[int(which)]
    text = f"Noted, {echo}. Mine is {value} if you need it."
    return text, text.index(value) + int(offset)


def _chunk(text: str) -> bytes:
    choice = {"index": 0, "delta": {"content": text}, "finish_reason": None}
    return f"data: {json.dumps({'id': 'c', 'object': 'chat.completion.chunk', 'choices': [choice]})}\n\n".encode()


async def provider(request: Request) -> Response:
    body = await request.json()
    text, cut = answer_for(body)
    if body.get("stream"):

        async def events() -> Any:
            yield _chunk(text[:cut])
            yield _chunk(text[cut:])
            end = {"index": 0, "delta": {}, "finish_reason": "stop"}
            yield f"data: {json.dumps({'id': 'c', 'object': 'chat.completion.chunk', 'choices': [end]})}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")
    message = {"role": "assistant", "content": text}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    return JSONResponse({"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": [choice]})


async def _key(url: str) -> str:
    db = Database(url)
    try:
        await db.migrate()
        return (await KeyStore(db).create("bench", "bench"))[1]
    finally:
        await db.aclose()


def _text(resp: httpx.Response, stream: bool) -> str:
    if not stream:
        return str(resp.json()["choices"][0]["message"]["content"])
    out = []
    for line in resp.text.splitlines():
        if line.startswith("data: {"):
            out.append(json.loads(line[6:])["choices"][0]["delta"].get("content") or "")
    return "".join(out)


def main() -> None:
    _, upstream = serve(Starlette(routes=[Route("/v1/chat/completions", provider, methods=["POST"])]))
    workdir = Path(tempfile.mkdtemp())
    database = f"sqlite+aiosqlite:///{workdir}/g.db"
    settings = Settings.model_validate(
        {
            "database_url": database,
            "policy": {"dir": str(REPO / "policies"), "timeout_ms": 5000},
            "pii": {"modes": {"EMAIL_ADDRESS": "pseudonymize"}, "key_file": str(workdir / "pii.key")},
            "approvals": {"key_file": str(workdir / "approvals.key")},
            "providers": {"up": {"kind": "openai", "base_url": f"{upstream}/v1"}},
            "routes": {"external": {"provider": "up", "model": "m"}},
        }
    )
    key = asyncio.run(_key(database))
    _, gateway = serve(create_app(settings))
    print(f"{'mode':<8} {'calls':>6} {'leaks':>6} {'restored':>9}")
    with httpx.Client(base_url=gateway, headers={"authorization": f"Bearer {key}"}, timeout=30) as client:
        for stream in (True, False):
            calls = leaks = restored = 0
            for which, value in enumerate(EMITTED):
                for offset in range(len(value) + 1):
                    prompt = f"my address is {CALLER} - cut {which}:{offset}"
                    body = {"model": "external", "messages": [{"role": "user", "content": prompt}], "stream": stream}
                    text = _text(client.post("/v1/chat/completions", json=body), stream)
                    calls += 1
                    leaks += value in text
                    restored += CALLER in text
            mode = "stream" if stream else "whole"
            print(f"{mode:<8} {calls:>6} {leaks:>6} {restored / calls:>8.0%}")


if __name__ == "__main__":
    main()
