"""Streamed answers on same-format routes carry what the provider's format returns beside the text: Anthropic
thinking and redacted_thinking blocks (signatures and all) and OpenAI chunk logprobs, safely with PII redaction;
cross-format routes never carry them. Driven with the official SDKs through the gateway from stand-in upstreams."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from gateway.pii.stream import LogprobAligner
from tests.conftest import make_settings
from tests.helpers import audit_rows, track
from tests.upstreams import LEAKY_THINKING, REDACTED_THINKING, THINKING, chunk_logprobs

THINK = {"type": "enabled", "budget_tokens": 1024}
EMAIL_ASK = "mail jane.doe@example.com"  # the request holds an email: the policy redacts emails in the answer


@pytest.fixture
def gateway(gateway_factory: Any, sqlite_url: str) -> Any:
    routes = dict(make_settings(sqlite_url, "http://x", "http://x").model_dump()["routes"])
    routes["claude-leak"] = {"provider": "ant", "model": "claude-leak"}
    routes["claude-thinks"] = {"provider": "ant", "model": "claude-thinks"}
    return gateway_factory(sqlite_url, routes=routes)


def _anthropic(gateway: Any) -> anthropic.Anthropic:
    return track(anthropic.Anthropic(base_url=gateway.url, api_key=gateway.key, max_retries=0))


def _openai(gateway: Any) -> openai.OpenAI:
    return track(openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=gateway.key, max_retries=0))


def _stream_message(gateway: Any, model: str, text: str) -> tuple[list[Any], anthropic.types.Message]:
    with _anthropic(gateway).messages.stream(
        model=model, max_tokens=2000, thinking=THINK, messages=[{"role": "user", "content": text}]
    ) as stream:
        events = list(stream)
        return events, stream.get_final_message()


def test_thinking_blocks_stream_to_an_anthropic_agent_in_order_with_signatures(gateway):
    events, final = _stream_message(gateway, "claude", "hello")
    blocks = [b.model_dump() for b in final.content]
    assert blocks[:2] == [THINKING, REDACTED_THINKING]
    assert blocks[2] == {"type": "text", "text": "anthropic says: hello ", "citations": None}
    starts = [(e.index, e.content_block.type) for e in events if e.type == "content_block_start"]
    assert starts == [(0, "thinking"), (1, "redacted_thinking"), (2, "text")]  # the upstream's indices
    deltas = [e.delta.type for e in events if e.type == "content_block_delta" and e.index == 0]
    assert deltas == ["thinking_delta", "signature_delta"]


def test_a_thinking_block_holding_pii_the_plan_redacts_is_dropped_from_the_stream(gateway):
    events, final = _stream_message(gateway, "claude-leak", EMAIL_ASK)
    kinds = [b.type for b in final.content]
    assert kinds == ["thinking", "redacted_thinking", "text"]  # the leaky block is gone, the clean ones stay
    assert final.content[0].model_dump() == THINKING
    text = final.content[2].text
    assert "ops@leaky-corp.com" not in text and "mine:" in text  # the answer's text is redacted as before
    assert LEAKY_THINKING["signature"] not in str([e.model_dump() for e in events])
    starts = [e.index for e in events if e.type == "content_block_start"]
    assert starts == [0, 1, 2]  # renumbered: an SDK needs contiguous indices
    redacted = [r for r in audit_rows(gateway.settings.database_url, 3) if r["event"] == "redacted"]
    assert any("(dropped)" in reason for r in redacted for reason in r["reasons"])


def test_whole_answers_keep_clean_thinking_when_the_text_was_redacted_and_drop_leaky_thinking(gateway):
    reply = _anthropic(gateway).messages.create(
        model="claude-leak", max_tokens=2000, thinking=THINK, messages=[{"role": "user", "content": EMAIL_ASK}]
    )
    assert [b.model_dump() for b in reply.content if b.type == "thinking"] == [THINKING]
    assert "ops@leaky-corp.com" not in reply.content[-1].text


def test_cross_format_streams_never_carry_thinking(gateway):
    chunks = list(
        _openai(gateway).chat.completions.create(
            model="claude-thinks", messages=[{"role": "user", "content": "hello"}], stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "anthropic says: hello "
    assert "sig-up1" not in str([c.model_dump() for c in chunks])
    assert all(c.choices[0].logprobs is None for c in chunks if c.choices)


def _logprob_chunks(gateway: Any, model: str, text: str) -> list[Any]:
    stream = _openai(gateway).chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}], stream=True, logprobs=True
    )
    return [c for c in stream if c.choices]


def test_streamed_logprobs_reach_an_openai_agent_aligned_with_each_chunk(gateway):
    chunks = _logprob_chunks(gateway, "gpt", "hello there")
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "openai says: hello there "
    carried = [c for c in chunks if c.choices[0].logprobs is not None]
    for chunk in carried:  # a token per word and per space, as the upstream sent them with this text
        assert chunk.choices[0].logprobs.model_dump() == chunk_logprobs(chunk.choices[0].delta.content)
    tokens = [t.token for c in carried for t in c.choices[0].logprobs.content]
    assert "".join(tokens) == text


def test_streamed_logprobs_never_spell_out_redacted_text(gateway):
    chunks = _logprob_chunks(gateway, "gpt-leak", EMAIL_ASK)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "ops@leaky-corp.com" not in text and "<EMAIL_ADDRESS>" in text  # the policy redacted emails
    tokens = "".join(t.token for c in chunks if c.choices[0].logprobs for t in c.choices[0].logprobs.content)
    assert "leaky-corp" not in tokens
    assert tokens.startswith("openai says: mail <EMAIL_ADDRESS> | mine:")  # unchanged text keeps its logprobs
    ours = [c for c in chunks if "<EMAIL_ADDRESS>" in (c.choices[0].delta.content or "")][-1]  # the upstream's
    assert ours.choices[0].logprobs is None  # own email, redacted by the gateway: that chunk carries none


def test_the_aligner_releases_a_token_with_its_last_character_and_drops_tokens_of_changed_text():
    aligner = LogprobAligner()
    aligner.feed("ab cd", {"content": [{"token": "ab"}, {"token": " c"}, {"token": "d"}]})
    aligner.feed("ef", None)  # no logprobs for this delta: an opaque span
    assert aligner.release(3, unchanged=True) == {"content": [{"token": "ab"}], "refusal": None}
    assert aligner.release(1, unchanged=True) == {"content": [{"token": " c"}], "refusal": None}
    assert aligner.release(3, unchanged=True) == {"content": [{"token": "d"}], "refusal": None}
    changed = LogprobAligner()
    changed.feed("ab cd", {"content": [{"token": "ab"}, {"token": " c"}, {"token": "d"}]})
    assert changed.release(3, unchanged=True) == {"content": [{"token": "ab"}], "refusal": None}
    assert changed.release(2, unchanged=False) is None  # " c" overlaps the changed text: dropped with "d"
    mismatched = LogprobAligner()
    mismatched.feed("abc", {"content": [{"token": "xyz"}]})  # tokens that do not spell the text: never released
    assert mismatched.release(3, unchanged=True) is None


def test_the_anthropic_event_parser_and_renderer_carry_a_thinking_block_whole():
    from connectors.anthropic_wire import EventParser, EventRenderer
    from connectors.base import StreamStart, TextDelta, Thinking

    parser = EventParser()
    start = {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}
    assert parser.feed(start) == []
    for delta in ({"type": "thinking_delta", "thinking": "a "}, {"type": "thinking_delta", "thinking": "b"}):
        assert parser.feed({"type": "content_block_delta", "index": 0, "delta": delta}) == []
    parser.feed({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "S"}})
    block = {"type": "thinking", "thinking": "a b", "signature": "S"}
    assert parser.feed({"type": "content_block_stop", "index": 0}) == [Thinking(block=block)]
    renderer = EventRenderer("m")
    renderer.render(StreamStart(id="x", model="m"))
    events = renderer.render(Thinking(block=block)) + renderer.render(TextDelta(text="hi"))
    assert [(name, payload.get("index")) for name, payload in events] == [
        ("content_block_start", 0),
        ("content_block_delta", 0),
        ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_delta", 1),
    ]
    assert events[2][1]["delta"] == {"type": "signature_delta", "signature": "S"}


def test_thinking_before_a_refused_tool_call_does_not_commit_the_stream_to_200(gateway):
    """Thinking then tool use is the usual shape; the policy refuses the call: still a real 403, no 200 first."""
    with pytest.raises(anthropic.PermissionDeniedError, match="risky tools list"):
        with _anthropic(gateway).messages.stream(
            model="claude-tool",
            max_tokens=2000,
            thinking=THINK,
            messages=[{"role": "user", "content": "call transfer_funds"}],
            tools=[{"name": "transfer_funds", "input_schema": {"type": "object"}}],
        ) as stream:
            list(stream)
