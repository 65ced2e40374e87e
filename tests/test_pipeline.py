"""The pipeline's promises: one response stage works for every surface, streamed or not; every call is
audited however it ends, even when it is cancelled at any await of its path."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from pydantic import SecretStr

from connectors.base import TextDelta, ToolCall
from gateway.app import build_services
from gateway.audit.journal import Journal
from gateway.errors import GatewayError
from gateway.flight import Flight
from gateway.model import Inbound, Origin
from gateway.pipeline import RESPONSE_STAGES, Pipeline
from gateway.reply import Part
from gateway.services import Services
from gateway.store.keys import KeyStore
from gateway.surfaces.openai import WIRE
from tests.conftest import make_settings
from tests.helpers import audit_rows, track


async def shout(
    flight: Flight, services: Services, journal: Journal, parts: AsyncIterator[Part]
) -> AsyncIterator[Part]:
    """A response stage for the test: upper-cases text, rewrites tool arguments."""
    async for part in parts:
        if isinstance(part, TextDelta):
            yield TextDelta(text=part.text.upper())
        elif isinstance(part, ToolCall):
            yield part.model_copy(update={"arguments": json.dumps({"rewritten": True})})
        else:
            yield part


@pytest.fixture
def shouting(gateway):
    pipeline: Pipeline = gateway.server.server.config.app.state.pipeline
    pipeline.response_stages = (*RESPONSE_STAGES, shout)
    return gateway


@pytest.mark.parametrize("stream", [False, True])
def test_one_response_stage_rewrites_openai_answers_streamed_or_not(shouting, stream):
    client = track(openai.OpenAI(base_url=f"{shouting.url}/v1", api_key=shouting.key, max_retries=0))
    ask = {"messages": [{"role": "user", "content": "quiet please"}], "stream": stream}
    text = client.chat.completions.create(model="gpt", **ask)
    tools = client.chat.completions.create(model="gpt-tool", **ask)
    if stream:
        content = "".join(c.choices[0].delta.content or "" for c in text if c.choices)
        pieces = [t for c in tools if c.choices for t in c.choices[0].delta.tool_calls or []]
        arguments = "".join(p.function.arguments or "" for p in pieces)
    else:
        content = text.choices[0].message.content
        arguments = tools.choices[0].message.tool_calls[0].function.arguments
    assert content.strip() == "OPENAI SAYS: QUIET PLEASE"  # the stand-in streams word by word
    assert json.loads(arguments) == {"rewritten": True}


@pytest.mark.parametrize("stream", [False, True])
def test_one_response_stage_rewrites_anthropic_answers_streamed_or_not(shouting, stream):
    client = track(anthropic.Anthropic(base_url=shouting.url, api_key=shouting.key, max_retries=0))
    ask: dict[str, Any] = {"max_tokens": 50, "messages": [{"role": "user", "content": "quiet please"}]}
    if stream:
        with client.messages.stream(model="claude", **ask) as s:
            text = s.get_final_message()
        with client.messages.stream(model="claude-tool", **ask) as s:
            tools = s.get_final_message()
    else:
        text = client.messages.create(model="claude", **ask)
        tools = client.messages.create(model="claude-tool", **ask)
    assert text.content[0].text.strip() == "ANTHROPIC SAYS: QUIET PLEASE"
    assert tools.content[0].input == {"rewritten": True}


# every call is audited, whichever await it is cancelled at


async def _services(tmp_path: Path, openai_url: str, anthropic_url: str) -> tuple[Services, str]:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/gateway.db", openai_url, anthropic_url)
    services = await build_services(settings)
    _, key = await KeyStore(services.db).create("support-bot", "cs")
    return services, key


def _inbound(key: str, n: int, stream: bool) -> Inbound:
    body = {"model": "gpt", "stream": stream, "messages": [{"role": "user", "content": f"call {n}"}]}
    return Inbound(Origin(surface="openai", request_id=f"req-{n}"), SecretStr(key), body, WIRE.parser())


async def _cancel_after(pipeline: Pipeline, inbound: Inbound, steps: int, stream: bool) -> bool:
    """Run one call and cancel it after `steps` turns of the event loop; True if it finished first."""

    async def call() -> None:
        result = await pipeline.run(inbound)
        if result.stream is not None:
            try:
                async for _ in result.stream:
                    pass
            finally:
                await result.stream.aclose()

    task = asyncio.create_task(call())
    for _ in range(steps):
        await asyncio.sleep(0)
        if task.done():
            break
    finished = task.done()
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, GatewayError):
        pass
    return finished and not task.cancelled()


@pytest.mark.parametrize("stream", [False, True])
def test_a_call_cancelled_at_any_await_is_still_audited(tmp_path, openai_upstream, anthropic_upstream, stream):
    async def run() -> tuple[list[str], int]:
        services, key = await _services(tmp_path, openai_upstream[1], anthropic_upstream[1])
        pipeline = Pipeline(services)
        sent, steps, completed = [], 1, 0
        try:
            while completed < 3 and steps < 5000:  # until the call outruns the cancellation a few times
                n = len(sent)
                sent.append(f"req-{n}")
                if await _cancel_after(pipeline, _inbound(key, n, stream), steps, stream):
                    completed += 1
                steps += 1 if steps < 200 else 25
        finally:
            await services.aclose()  # waits for every handed-over record to be committed
        return sent, completed

    sent, completed = asyncio.run(run())
    assert completed == 3, "the calls never completed: the test did not reach the end of the path"
    rows = audit_rows(f"sqlite+aiosqlite:///{tmp_path}/gateway.db")
    recorded = {r["request_id"] for r in rows}
    assert [r for r in sent if r not in recorded] == []
    assert len(sent) > 20, "too few cancellation points were tried"
    # most were cut short, and say so (a call cancelled only while its records were being written says how
    # it ended before that)
    cancelled = {r["request_id"] for r in rows if r["error_code"] == "client_disconnected"}
    assert len(cancelled) >= len(sent) // 2
