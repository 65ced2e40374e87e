"""A seeded mutation fuzz of every JSON surface: thousands of bodies derived from valid ones (a value replaced
by one of another type, a key dropped, a list holding a string where objects belong, ...). The gateway must
answer each in its protocol's shape and never with a 5xx: a body it cannot read is a 400, one it can is
decided, forwarded and answered."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

SEED = 19
PER_SURFACE = 1500

IMAGE = "data:image/png;base64,iVBORw0KGgo="
BASES: dict[str, list[dict[str, Any]]] = {
    "/v1/chat/completions": [
        {
            "model": "gpt",
            "messages": [
                {"role": "system", "content": "be brief"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": IMAGE}}],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "ok"},
            ],
            "tools": [
                {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": True}}
            ],
            "response_format": {"type": "json_object"},
            "max_tokens": 20,
            "stream": False,
            "user": "u1",
        }
    ],
    "/v1/responses": [
        {
            "model": "gpt",
            "input": [
                {"role": "developer", "content": [{"type": "input_text", "text": "be brief"}]},
                {
                    "role": "user",
                    "content": [{"type": "input_text", "text": "hi"}, {"type": "input_image", "image_url": IMAGE}],
                },
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "ok"},
            ],
            "instructions": "answer",
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True}],
            "text": {"format": {"type": "text"}},
            "max_output_tokens": 50,
            "store": False,
        },
        {"model": "gpt", "input": "hello"},
    ],
    "/v1/messages": [
        {
            "model": "claude",
            "max_tokens": 20,
            "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "hi"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
                        },
                    ],
                },
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
            ],
            "tools": [{"name": "f", "input_schema": {"type": "object"}}],
            "metadata": {"user_id": "u1"},
        },
        {
            "model": "claude",
            "max_tokens": 20,
            "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
        },
    ],
    "/v1/messages/count_tokens": [
        {"model": "claude", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "system": "x"}
    ],
    "/v1/embeddings": [
        {"model": "embed", "input": ["hello", "world"], "user": "u1"},
        {"model": "embed", "input": [[1, 2, 3]]},
    ],
}

ODD_VALUES: list[Any] = [
    3.14,
    -1,
    0,
    2**70,
    True,
    None,
    "",
    "x",
    "\u0000",
    "\ud83d\ude00",
    [],
    ["s"],
    [1],
    [None],
    {},
    {"type": 5},
    {"type": "text"},
    [{"type": "text"}],
    [{"type": "nope"}],
    "x" * 5000,
]


def _paths(value: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield here
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*here, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*here, i))


def _mutate(body: dict[str, Any], rng: random.Random) -> Any:
    body = copy.deepcopy(body)
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _paths(body) if p]
        if not paths:
            return body
        path = rng.choice(paths)
        parent: Any = body
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        action = rng.random()
        if action < 0.15 and isinstance(parent, dict):
            del parent[last]
        elif action < 0.25 and isinstance(parent, list):
            parent.insert(last, rng.choice(["a string", 7, None]))
        else:
            parent[last] = copy.deepcopy(rng.choice(ODD_VALUES))
    return body


def bodies(path: str, count: int = PER_SURFACE, bases: list[dict[str, Any]] | None = None) -> list[Any]:
    """The valid bases, then mutations of them up to `count` bodies (the same ones on every run)."""
    bases = bases if bases is not None else BASES[path]
    rng = random.Random(f"{SEED}:{path}")
    out: list[Any] = list(bases)
    while len(out) < count:
        out.append(_mutate(rng.choice(bases), rng))
    return out


def server_errors(
    client: httpx.Client, path: str, sent: list[Any], headers: dict[str, str], more: Any = None
) -> list[str]:
    """The bodies answered with a 5xx that is not an outage (502-504), each with its answer; every other
    error must be in a JSON error shape (the protocol's, or JSON-RPC's). `more(body)`: headers of its own."""
    failures = []
    for i, body in enumerate(sent):
        extra = more(body) if more else {}
        resp = client.post(path, content=json.dumps(body).encode(), headers={**headers, **extra})
        if resp.status_code >= 500 and resp.status_code not in (502, 503, 504):
            failures.append(f"#{i} {resp.status_code} {resp.text[:200]}\n  body: {json.dumps(body)[:400]}")
        elif resp.status_code >= 400:
            assert "error" in resp.json(), resp.text  # the protocol's error shape, never plain text
    return failures


@pytest.mark.parametrize("path", sorted(BASES))
def test_no_body_gets_a_server_error(gateway, path):
    headers = {"authorization": f"Bearer {gateway.key}", "content-type": "application/json"}
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        failures = server_errors(client, path, bodies(path), headers)
    assert not failures, f"{len(failures)} server errors:\n" + "\n".join(failures[:8])


@pytest.mark.parametrize("path", sorted(BASES))
def test_the_valid_bases_are_answered(gateway, path):
    headers = {"authorization": f"Bearer {gateway.key}"}
    for body in BASES[path]:
        resp = httpx.post(gateway.url + path, json=body, headers=headers, timeout=30)
        assert resp.status_code == 200, resp.text
