"""docs/fidelity.md, the per-field table of what crosses a cross-format route, stays complete and true: every
request field of the SDKs' parameter types is listed for each direction (an SDK upgrade that adds one fails
here), and a sample of the claims is checked against what the other format's stand-in provider receives."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from anthropic.types import message_create_params
from openai.types.chat import completion_create_params
from openai.types.responses import response_create_params

from tests.helpers import track

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "fidelity.md"
STATUSES = {"mapped", "approximated", "dropped", "refused", "gateway"}

CHAT_TO_ANTHROPIC = "OpenAI Chat Completions agent -> Anthropic provider"
ANTHROPIC_TO_OPENAI = "Anthropic Messages agent -> OpenAI (Chat Completions) provider"
RESPONSES_TO_CHAT = "Responses agent -> Chat Completions provider"
RESPONSES_TO_ANTHROPIC = "Responses agent -> Anthropic provider"
PARAMS = {
    CHAT_TO_ANTHROPIC: completion_create_params.CompletionCreateParamsBase,
    ANTHROPIC_TO_OPENAI: message_create_params.MessageCreateParamsBase,
    RESPONSES_TO_CHAT: response_create_params.ResponseCreateParamsBase,
    RESPONSES_TO_ANTHROPIC: response_create_params.ResponseCreateParamsBase,
}
_ROW = re.compile(r"^\| `([a-z_]+)` \| (\w+) \|")


def tables() -> dict[str, dict[str, str]]:
    """{section heading: {field: status}} for every table of the doc."""
    out: dict[str, dict[str, str]] = {}
    section = ""
    for line in DOC.read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        elif match := _ROW.match(line):
            out.setdefault(section, {})[match.group(1)] = match.group(2)
    return out


@pytest.mark.parametrize("direction", list(PARAMS))
def test_every_sdk_request_field_is_in_the_table(direction):
    params = PARAMS[direction]
    fields = params.__required_keys__ | params.__optional_keys__
    table = tables().get(direction)
    assert table is not None, f"docs/fidelity.md has no section '## {direction}'"
    missing = sorted(fields - set(table))
    assert not missing, f"{direction}: fields of {params.__name__} missing from docs/fidelity.md: {missing}"
    unknown = {f: s for f, s in table.items() if s not in STATUSES}
    assert not unknown, f"{direction}: statuses not in {sorted(STATUSES)}: {unknown}"


def test_the_readme_links_the_table():
    assert "docs/fidelity.md" in (ROOT / "README.md").read_text()


# (field, sample value, where the other format's provider must find it when mapped: (path, value))
Probe = tuple[str, Any, tuple[tuple[Any, ...], Any] | None]
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "probe_fmt", "schema": {"type": "object"}}}
PROBES: dict[str, list[Probe]] = {
    CHAT_TO_ANTHROPIC: [
        ("stop", ["HALT-probe"], (("stop_sequences",), ["HALT-probe"])),
        ("user", "user-probe", (("metadata",), {"user_id": "user-probe"})),
        ("max_completion_tokens", 321, (("max_tokens",), 321)),
        ("top_p", 0.37, (("top_p",), 0.37)),
        ("seed", 424242, None),
        ("response_format", JSON_SCHEMA, None),
        ("metadata", {"k": "meta-probe"}, None),
        ("parallel_tool_calls", False, None),
        ("reasoning_effort", "low", None),
        ("logprobs", True, None),
        ("n", 2, None),
    ],
    ANTHROPIC_TO_OPENAI: [
        ("stop_sequences", ["HALT-probe"], (("stop",), ["HALT-probe"])),
        ("metadata", {"user_id": "user-probe"}, (("user",), "user-probe")),
        ("temperature", 0.42, (("temperature",), 0.42)),
        ("system", "sys-probe", (("messages", 0), {"role": "system", "content": "sys-probe"})),
        ("thinking", {"type": "enabled", "budget_tokens": 1024}, None),
        ("service_tier", "auto", None),
        ("container", "container-probe", None),
        ("tool_choice", {"type": "auto", "disable_parallel_tool_use": True}, (("tool_choice",), "auto")),
    ],
    RESPONSES_TO_CHAT: [
        ("instructions", "inst-probe", (("messages", 0), {"role": "system", "content": "inst-probe"})),
        ("max_output_tokens", 222, (("max_completion_tokens",), 222)),
        ("text", {"format": {"type": "json_object"}}, (("response_format",), {"type": "json_object"})),
        ("top_logprobs", 3, (("top_logprobs",), 3)),
        ("safety_identifier", "safe-probe", (("safety_identifier",), "safe-probe")),
        ("reasoning", {"effort": "low", "summary": "auto"}, (("reasoning_effort",), "low")),
        ("metadata", {"k": "meta-probe"}, None),
        ("truncation", "auto", None),
        ("background", True, None),
    ],
    RESPONSES_TO_ANTHROPIC: [
        ("instructions", "inst-probe", (("system",), "inst-probe")),
        ("max_output_tokens", 222, (("max_tokens",), 222)),
        ("user", "user-probe", (("metadata",), {"user_id": "user-probe"})),
        ("text", {"format": {"type": "json_schema", "name": "probe_fmt", "schema": {"type": "object"}}}, None),
        ("reasoning", {"effort": "low"}, None),
        ("safety_identifier", "safe-probe", None),
        ("conversation", "conv_probe", None),
    ],
}


def _send(gateway: Any, direction: str, field: str, value: Any) -> None:
    url, key = gateway.url, gateway.key
    if direction == CHAT_TO_ANTHROPIC:
        api = track(openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0))
        api.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}], **{field: value})
    elif direction == ANTHROPIC_TO_OPENAI:
        tools = [{"name": "probe_tool", "input_schema": {"type": "object"}}] if field == "tool_choice" else []
        extra = {"tools": tools} if tools else {}
        client = track(anthropic.Anthropic(base_url=url, api_key=key, max_retries=0))
        messages = [{"role": "user", "content": "hi"}]
        if field in PARAMS[direction].__optional_keys__ | PARAMS[direction].__required_keys__:
            extra[field] = value
        else:  # accepted by the API and the gateway, but no longer typed by the SDK (temperature, top_p)
            extra["extra_body"] = {field: value}
        client.messages.create(model="gpt", max_tokens=64, messages=messages, **extra)
    else:
        api = track(openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0))
        model = "gpt" if direction == RESPONSES_TO_CHAT else "claude"
        api.responses.create(model=model, input="hi", **{field: value})


def _at(body: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        body = body[step]
    return body


@pytest.mark.parametrize(("direction", "probe"), [(d, p) for d, probes in PROBES.items() for p in probes])
def test_the_tables_claims_hold(gateway, openai_upstream, anthropic_upstream, direction, probe):
    field, value, mapped = probe
    status = tables()[direction][field]
    upstream = anthropic_upstream[0] if direction in (CHAT_TO_ANTHROPIC, RESPONSES_TO_ANTHROPIC) else openai_upstream[0]
    before = len(upstream.received)
    if status == "refused":
        with pytest.raises((openai.BadRequestError, anthropic.BadRequestError)):
            _send(gateway, direction, field, value)
        assert len(upstream.received) == before, "a refused call must not reach the provider"
        return
    _send(gateway, direction, field, value)
    body = upstream.received[-1]
    if status == "dropped":
        assert field not in body, f"the table says {field} is dropped, but the provider received it"
        if "probe" in json.dumps(value):
            assert "probe" not in json.dumps(body), f"{field}'s value reached the provider"
        return
    assert status in ("mapped", "approximated"), f"no check for status {status}"
    assert mapped is not None, f"the table says {field} is {status}: give the probe where it must arrive"
    assert _at(body, mapped[0]) == mapped[1]
