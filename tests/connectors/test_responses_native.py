"""The native Responses halves: the body rebuilt from its shape and the (edited) neutral request, the answer
with the stages' edits put back, and the relay of a stream whose text the PII look-behind held back."""

from __future__ import annotations

import json
from typing import Any

from connectors.base import StreamEnd, TextDelta, ToolCallDelta
from connectors.responses_edit import align, edit_response
from connectors.responses_native import EventParser, Upstream, parse_answer, render_body
from connectors.responses_relay import NativeRelay
from connectors.responses_wire import parse_request, raw_input, untranslatable
from tests.responses_upstream import response_for, stream_events

BODY: dict[str, Any] = {
    "model": "alias",
    "instructions": "be brief",
    "input": [
        {
            "role": "user",
            "content": [{"type": "input_text", "text": "Hi, "}, {"type": "input_text", "text": "mail me"}],
        },
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "blob"},
        {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": '{"q": "x"}', "id": "fc_1"},
        {"type": "function_call_output", "call_id": "c1", "output": "found"},
        {"role": "user", "content": [{"type": "input_image", "image_url": "https://img.test/a.png", "detail": "low"}]},
    ],
    "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}, "strict": True}],
    "include": ["web_search_call.action.sources"],
    "metadata": {"k": "v"},
    "stream": True,
}


def _request(body: dict[str, Any]) -> Any:
    return parse_request(body, raw_input(body))


def test_the_body_is_rebuilt_as_sent_but_for_the_model():
    assert render_body(_request(BODY), "upstream-model") == {**BODY, "model": "upstream-model"}
    plain = {"model": "alias", "input": "hello", "store": False}
    assert render_body(_request(plain), "m") == {**plain, "model": "m"}


def test_edited_neutral_text_goes_back_where_it_came_from():
    request = _request(BODY)
    messages = [m.model_copy(deep=True) for m in request.messages]
    assert messages[1].parts is not None and len(messages[1].parts) == 2
    messages[1].parts = [messages[1].parts[0], "mail <EMAIL>"]  # redaction edits the part it found the value in
    messages[1].content = "".join(messages[1].parts)
    messages[2].tool_calls[0].arguments = '{"q": "<EMAIL>"}'
    body = render_body(request.model_copy(update={"messages": messages}), "m")
    assert body["input"][0]["content"] == [
        {"type": "input_text", "text": BODY["input"][0]["content"][0]["text"]},
        {"type": "input_text", "text": "mail <EMAIL>"},
    ]
    assert body["input"][2]["arguments"] == '{"q": "<EMAIL>"}'
    assert body["input"][4]["content"][0] == {
        "type": "input_image",
        "image_url": "https://img.test/a.png",
        "detail": "low",
    }


def test_what_the_neutral_format_does_not_carry_stays_out_of_translated_routes():
    assert untranslatable(_request(BODY)) is None  # reasoning items are dropped by a translation, nothing else
    hosted = {**BODY, "tools": [{"type": "mcp", "server_label": "wiki", "server_url": "https://x.test"}]}
    assert untranslatable(_request(hosted))[1] == "tools[0]"
    assert _request(hosted).tools[0].name == "mcp:wiki" and _request(hosted).tools[0].hosted
    referenced = {**BODY, "input": [{"type": "item_reference", "id": "msg_1"}, *BODY["input"]]}
    assert untranslatable(_request(referenced))[1] == "input[0].type"


def test_align_keeps_each_edit_in_its_part():
    assert align("Hi <EMAIL>, bye", ["Hi joe@x.io", ", bye"]) == ["Hi <EMAIL>", ", bye"]
    assert align("a <P> b", ["a ", "<P>", " b"]) == ["a ", "<P>", " b"]
    assert align("a Jane Roe b", ["a ", "<P>", " b"]) == ["a ", "Jane Roe", " b"]  # a pseudonym restored
    assert align("x <CARD>", ["x 4111 ", "1111"]) == ["x <CARD>", ""]  # one value across two parts


def test_an_answer_keeps_everything_but_what_the_stages_changed():
    body = {"model": "rich-leak", "input": "call it", "tools": [BODY["tools"][0], {"type": "web_search"}]}
    response = response_for(body)
    reply = parse_answer(response)
    assert [c.name for c in reply.tool_calls] == ["web_search", "lookup"]
    assert json.loads(reply.tool_calls[0].arguments)["action"]["query"] == "weather in Paris"
    assert edit_response(response, reply.content, reply.tool_calls, {}) == response
    text = (reply.content or "").replace("ops@leaky-corp.com", "<EMAIL_ADDRESS>")
    calls = [reply.tool_calls[0], reply.tool_calls[1].model_copy(update={"arguments": '{"city": "<LOCATION>"}'})]
    edited = edit_response(response, text, calls, {"model": "alias"})
    part = edited["output"][2]["content"][0]
    assert "<EMAIL_ADDRESS>" in part["text"] and part["logprobs"] == [] and part["annotations"]
    assert edited["output"][3]["arguments"] == '{"city": "<LOCATION>"}' and edited["model"] == "alias"
    assert edited["output"][:2] == response["output"][:2]
    searched = json.loads(reply.tool_calls[0].arguments)
    searched["action"]["query"] = "weather in <LOCATION>"
    scrubbed = reply.tool_calls[0].model_copy(update={"arguments": json.dumps(searched)})
    call = edit_response(response, reply.content, [scrubbed, reply.tool_calls[1]], {})["output"][1]
    assert call == {**response["output"][1], "action": searched["action"]}  # what a hosted call asked, scrubbed


def _relayed(events: list[Any], overrides: dict[str, Any]) -> tuple[list[dict[str, Any]], NativeRelay]:
    relay = NativeRelay(overrides)
    out = [e for event in events for e in relay.render(event)]
    return out, relay


def test_a_stream_whose_text_was_held_back_keeps_the_providers_order():
    body = {"model": "rich-leak", "input": "call it", "tools": [BODY["tools"][0]]}
    response = response_for(body)
    parser = EventParser()
    neutral = [e for event in stream_events(response) for e in parser.feed(event)]
    # what the stages do: text held back past the provider's next events, then released scrubbed, calls at the end
    texts = [e.text for e in neutral if isinstance(e, TextDelta)]
    others = [e for e in neutral if isinstance(e, Upstream)]
    calls = [e for e in neutral if isinstance(e, ToolCallDelta)]
    ended = next(e for e in neutral if isinstance(e, StreamEnd))
    first, rest = texts[0], "".join(texts[1:]).replace("ops@leaky-corp.com", "<EMAIL_ADDRESS>")
    opened = next(i for i, e in enumerate(others) if e.event["type"] == "response.content_part.added") + 1
    staged = [*others[:opened], TextDelta(text=first), *others[opened:], TextDelta(text=rest), *calls, ended]
    out, relay = _relayed(staged, {"model": "alias"})
    kinds = [e["type"] for e in out]
    assert kinds.index("response.output_text.done") > max(i for i, k in enumerate(kinds) if k.endswith("text.delta"))
    streamed = "".join(e["delta"] for e in out if e["type"] == "response.output_text.delta")
    assert streamed == relay.final["output"][1]["content"][0]["text"] and "<EMAIL_ADDRESS>" in streamed
    done = next(e for e in out if e["type"] == "response.output_text.done")
    assert done["text"] == streamed and done["logprobs"] == []
    assert [e["sequence_number"] for e in out] == list(range(len(out)))
    assert out[0]["response"]["model"] == "alias" and relay.final["model"] == "alias"
    assert relay.final["output"][2] == response["output"][2]  # the call, unchanged, as the provider sent it


def test_a_call_changed_by_the_stages_streams_as_one_delta():
    response = response_for({"model": "tool", "input": "pay", "tools": [BODY["tools"][0]]})
    parser = EventParser()
    neutral = [e for event in stream_events(response) for e in parser.feed(event)]
    staged = [
        ToolCallDelta(index=0, id=e.id, name=e.name, arguments='{"amount": 1}') if isinstance(e, ToolCallDelta) else e
        for e in neutral
    ]
    out, relay = _relayed(staged, {})
    deltas = [e["delta"] for e in out if e["type"] == "response.function_call_arguments.delta"]
    assert deltas == ['{"amount": 1}'] and relay.final["output"][0]["arguments"] == '{"amount": 1}'
