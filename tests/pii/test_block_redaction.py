"""Redaction on structured content, as a property: random messages of several text blocks (parts) and images, with
values planted inside blocks and across block boundaries, sent through the gateway (default policy: an external
route redacts) in the Messages, Chat Completions and Responses shapes, whole and streamed. What the provider gets
has the same blocks in the same order with the same fields; every planted value is gone; every other character
of every block is as sent."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.compat.test_agent_clis import _providers
from tests.conftest import ServerThread
from tests.responses_upstream import ResponsesUpstream

WORDS = "alpha beta gamma delta there. Second report, figures; and the plan (draft) is ready now".split()
VALUES = ["jane.roe@example.com", "ops.lead@corp.example.org", "536-22-8456"]
IMAGE = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
TAG = re.compile(r"<[A-Z_]+>")


def _filler(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6)))


def plan_blocks(rng: random.Random) -> list[list[tuple[str, str]]]:
    """Blocks of pieces ("text", s) / ("value", s); a value may be cut between the end of one block and the
    start of the next (an email only: a value without spaces)."""
    blocks: list[list[tuple[str, str]]] = []
    carry: str | None = None
    for i in range(rng.randint(2, 4)):
        pieces: list[tuple[str, str]] = []
        if carry is not None:
            pieces.append(("value", carry))
            carry = None
            pieces.append(("text", " " + _filler(rng)))
        else:
            pieces.append(("text", _filler(rng)))
        if rng.random() < 0.6:
            pieces += [("text", " "), ("value", rng.choice(VALUES)), ("text", " " + _filler(rng))]
        if i < 3 and rng.random() < 0.5:
            value = rng.choice(VALUES[:2])
            cut = rng.randint(3, len(value) - 3)
            pieces += [("text", " "), ("value", value[:cut])]
            carry = value[cut:]
        blocks.append(pieces)
    if carry is not None:
        blocks.append([("value", carry), ("text", " " + _filler(rng))])
    return blocks


def _text(pieces: list[tuple[str, str]]) -> str:
    return "".join(s for _, s in pieces)


def _expected(pieces: list[tuple[str, str]]) -> re.Pattern[str]:
    """The block's text as it must arrive: the text pieces as they were, each value replaced by a type tag."""
    return re.compile("".join(re.escape(s) if kind == "text" else TAG.pattern for kind, s in pieces))


def _assert_blocks(sent: list[list[tuple[str, str]]], texts: list[str]) -> None:
    assert len(texts) == len(sent)
    for pieces, got in zip(sent, texts, strict=True):
        assert _expected(pieces).fullmatch(got), f"sent {_text(pieces)!r}\n got {got!r}"


@pytest.fixture
def native_upstream() -> Iterator[tuple[ResponsesUpstream, str]]:
    upstream = ResponsesUpstream()
    with ServerThread(upstream.app) as server:
        yield upstream, server.url


def _anthropic_body(blocks: list[list[tuple[str, str]]], rng: random.Random) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for i, pieces in enumerate(blocks):
        content.append(
            {"type": "text", "text": _text(pieces), **({"cache_control": {"type": "ephemeral"}} if i else {})}
        )
        if rng.random() < 0.4:
            content.append({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": IMAGE}})
    return {"model": "claude", "max_tokens": 20, "messages": [{"role": "user", "content": content}]}


def _chat_body(blocks: list[list[tuple[str, str]]], rng: random.Random) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for pieces in blocks:
        content.append({"type": "text", "text": _text(pieces)})
        if rng.random() < 0.4:
            content.append({"type": "image_url", "image_url": {"url": f"data:image/png;base64,{IMAGE}"}})
    return {"model": "gpt", "messages": [{"role": "user", "content": content}]}


def _responses_body(blocks: list[list[tuple[str, str]]], rng: random.Random) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for pieces in blocks:
        content.append({"type": "input_text", "text": _text(pieces)})
        if rng.random() < 0.4:
            content.append({"type": "input_image", "image_url": f"data:image/png;base64,{IMAGE}", "detail": "low"})
    return {"model": "native", "input": [{"role": "user", "content": content}]}


SHAPES = {
    "messages": ("/v1/messages", _anthropic_body, "content", "text"),
    "chat": ("/v1/chat/completions", _chat_body, "content", "text"),
    "responses": ("/v1/responses", _responses_body, "content", "text"),
}


def _received_parts(shape: str, received: dict[str, Any]) -> list[dict[str, Any]]:
    if shape == "responses":
        return list(received["input"][0]["content"])
    return list(received["messages"][-1]["content"])


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_planted_values_are_redacted_in_place_and_nothing_else_changes(
    shape, stream, gateway_factory, sqlite_url, openai_upstream, anthropic_upstream, native_upstream
):
    path, build, _, _ = SHAPES[shape]
    providers = _providers(openai_upstream[1], anthropic_upstream[1], native_upstream[1])
    routes = {
        "claude": {"provider": "ant", "model": "claude-test"},
        "gpt": {"provider": "oai", "model": "gpt-test"},
        "native": {"provider": "native", "model": "gpt-native"},
    }
    gw = gateway_factory(sqlite_url, providers=providers, routes=routes)
    upstream = {"messages": anthropic_upstream, "chat": openai_upstream, "responses": native_upstream}[shape][0]
    rng = random.Random(f"blocks:{shape}:{stream}")
    headers = {"authorization": f"Bearer {gw.key}"}
    with httpx.Client(timeout=30) as client:
        for _ in range(12):
            blocks = plan_blocks(rng)
            body = {**build(blocks, rng), "stream": stream}
            resp = client.post(gw.url + path, json=body, headers=headers)
            assert resp.status_code == 200, resp.text
            received = upstream.received[-1]
            sent_parts = body["input"][0]["content"] if shape == "responses" else body["messages"][-1]["content"]
            got_parts = _received_parts(shape, received)
            assert [p["type"] for p in got_parts] == [p["type"] for p in sent_parts]  # same blocks, same order
            for sent_part, got_part in zip(sent_parts, got_parts, strict=True):
                assert set(sent_part) == set(got_part)  # every field kept (cache_control, detail, ...)
                if "text" not in sent_part:
                    assert got_part == sent_part  # images exactly as sent
            texts = [p["text"] for p in got_parts if "text" in p]
            _assert_blocks(blocks, texts)
            for value in VALUES:
                assert value not in json.dumps(received)
