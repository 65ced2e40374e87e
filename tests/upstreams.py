"""Stand-in LLM providers: small servers that speak the OpenAI and Anthropic wire formats.

The model name picks the behaviour, so one server covers every test:
  `*fail500*` answers 500, `*ratelimit*` 429, `*badreq*` 400, `*slow*` sleeps 2 s first,
  `*drop*` streams one event then drops the connection (`*cutoff*`: after some text), `*agent*` asks for a
  tool call until a tool result comes back, then answers "done: <result>" (an agent loop ends), `*trickle*`
  streams a word every 0.2 s (and counts streams the gateway abandoned in `aborted`), `*tool*` asks for a tool
  call (`get_weather`, or the tool named in the last user message after `call `), `*leak*` (OpenAI) adds a card
  number and an email of its own to its answer (Anthropic: an email, and a thinking block that holds one when
  thinking is on), `*echoerr*` (OpenAI) refuses with a 400 that quotes the request, `*length*` ends its answer as
  cut short by the token limit, anything else answers "<provider> says: <last user text>". Streams carry logprobs
  on each text chunk when asked (`logprobs: true`; a token per word and per space), and Anthropic streams with
  `thinking` on (or a `*thinks*` model) start with a thinking block, then a redacted_thinking block. `*cli*` plays a
  coding agent's model (`cli_turn`): asked to `READ <path>` (with a `Read` tool) or `RUN <command>` (with
  `exec_command`) it calls that tool once, then answers "done: <the tool's result>". Every request body is kept
  in `received`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import struct
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

LOGPROBS = {"content": [{"token": "openai", "logprob": -0.01, "bytes": [111], "top_logprobs": []}], "refusal": None}
THINKING = {"type": "thinking", "thinking": "the user greets me", "signature": "sig-up1"}
REDACTED_THINKING = {"type": "redacted_thinking", "data": "EncryptedUpstreamThinking=="}
LEAKY_THINKING = {"type": "thinking", "thinking": "I could write to ops@leaky-corp.com", "signature": "sig-up3"}


def _token(text: str) -> dict[str, Any]:
    return {"token": text, "logprob": -0.5, "bytes": list(text.encode()), "top_logprobs": []}


def chunk_logprobs(text: str) -> dict[str, Any]:
    """The logprobs a stand-in chunk carries: a token per word and per space."""
    return {"content": [_token(t) for t in re.split(r"( )", text) if t], "refusal": None}


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m["role"] == "user":
            content = m["content"]
            if isinstance(content, str):
                return content
            return "".join(b.get("text", "") for b in content if b.get("type") == "text")
    return ""


def _tool_result(messages: list[dict[str, Any]]) -> str | None:
    """The tool result the last message carries (OpenAI `tool` role, or Anthropic `tool_result` blocks)."""
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        return str(last.get("content"))
    content = last.get("content")
    if isinstance(content, list):
        for block in content:
            if block.get("type") == "tool_result":
                inner = block.get("content")
                if isinstance(inner, list):  # text blocks, as the agent sent them
                    return "".join(str(b.get("text", "")) for b in inner if isinstance(b, dict))
                return inner if isinstance(inner, str) else json.dumps(inner)
    return None


def _wants_tool(model: str, messages: list[dict[str, Any]]) -> bool:
    return "tool" in model or ("agent" in model and _tool_result(messages) is None)


def _answer(provider: str, model: str, messages: list[dict[str, Any]]) -> str:
    result = _tool_result(messages) if "agent" in model else None
    return f"done: {result}" if result is not None else f"{provider} says: {_last_user_text(messages)}"


def _tool_input(model: str) -> dict[str, Any]:
    return {"city": "Paris"} if "agent" in model else {"city": "Paris", "amount": 5000}


_CLI_ASK = re.compile(r"\b(READ|RUN) ([^\n<]+)")


def tool_names(tools: Any) -> set[str]:
    """Every tool name offered, in groups (`namespace`, `additional_tools`) too."""
    names: set[str] = set()
    for tool in tools or []:
        if isinstance(tool, dict):
            names |= {str(tool["name"])} if isinstance(tool.get("name"), str) else set()
            names |= tool_names(tool.get("tools"))
    return names


def cli_turn(asked: str, result: str | None, tools: set[str]) -> tuple[str, tuple[str, dict[str, Any]] | None]:
    """A coding agent's model: (its text, the tool call it makes or None)."""
    if result is not None:
        return f"done: {result.strip()[-80:]}", None  # the end of it: where a file's text or an output ends
    match = _CLI_ASK.search(asked)
    if match and match.group(1) == "READ" and "Read" in tools:
        return "", ("Read", {"file_path": match.group(2).strip()})
    if match and match.group(1) == "RUN" and "exec_command" in tools:
        return "", ("exec_command", {"cmd": match.group(2).strip()})
    return "ok", None


def _user_texts(messages: list[dict[str, Any]]) -> str:
    out = []
    for m in messages:
        content = m.get("content") if m.get("role") == "user" else None
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            out += [str(b.get("text")) for b in content if isinstance(b, dict) and b.get("type") == "text"]
    return "\n".join(out)


def _finish(model: str, cut: str, done: str) -> str:
    """Why the answer ended: `*length*` models always run out of tokens."""
    return cut if "length" in model else done


def _tool_name(text: str) -> str:
    match = re.search(r"call (\w+)", text)
    return match.group(1) if match else "get_weather"


async def _failure(model: str, error: Any) -> Response | None:
    if "slow" in model:
        await asyncio.sleep(2)
    if "fail500" in model:
        return JSONResponse(error("upstream exploded"), status_code=500)
    if "ratelimit" in model:
        return JSONResponse(error("slow down"), status_code=429)
    if "badreq" in model:
        return JSONResponse(error("context too long"), status_code=400)
    return None


def _openai_error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "server_error", "param": None, "code": None}}


def _openai_chunk(
    model: str, delta: dict[str, Any], finish: str | None = None, logprobs: dict[str, Any] | None = None
) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish, **({"logprobs": logprobs} if logprobs else {})}
    chunk = {"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [choice]}
    return f"data: {json.dumps(chunk)}\n\n".encode()


class OpenAIUpstream:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.queries: list[str] = []
        self.aborted = 0
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/embeddings", self.embeddings, methods=["POST"]),
            ]
        )

    async def embeddings(self, request: Request) -> Response:
        body = await request.json()
        self.received.append(body)
        failure = await _failure(body["model"], _openai_error)
        if failure:
            return failure
        inputs = [body["input"]] if isinstance(body["input"], str) else body["input"]
        inputs = [inputs] if inputs and isinstance(inputs[0], int) else inputs  # one input as token ids
        vectors = [[float(len(text)), 0.5, -0.25] for text in inputs]
        if body.get("encoding_format") == "base64":
            vectors = [base64.b64encode(struct.pack("<3f", *v)).decode() for v in vectors]
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        return JSONResponse(
            {"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 4, "total_tokens": 4}}
        )

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        self.received.append(body)
        self.headers.append(dict(request.headers))
        self.queries.append(request.url.query)
        model = body["model"]
        failure = await _failure(model, _openai_error)
        if failure:
            return failure
        text = _answer("openai", model, body["messages"])
        wants_tool = _wants_tool(model, body["messages"])
        if "cli" in model:
            names = {str((t.get("function") or {}).get("name")) for t in body.get("tools") or []}
            text, cli = cli_turn(_user_texts(body["messages"]), _tool_result(body["messages"]), names)
            if cli is not None:
                arguments = json.dumps(cli[1])
                call = {"id": "call_cli1", "type": "function", "function": {"name": cli[0], "arguments": arguments}}
                return StreamingResponse(self._stream(model, text, call), media_type="text/event-stream")
            return StreamingResponse(self._stream(model, text, None), media_type="text/event-stream")
        if "echoerr" in model:  # a provider whose error message quotes the request
            return JSONResponse(_openai_error(f"cannot process: {text}"), status_code=400)
        if "leak" in model:
            text += " | mine: 4111 1111 1111 1111 ops@leaky-corp.com"
        call = {
            "id": "call_up1",
            "type": "function",
            "function": {"name": _tool_name(text), "arguments": json.dumps(_tool_input(model))},
        }
        if body.get("stream"):
            stream = self._stream(model, text, call if wants_tool else None, bool(body.get("logprobs")))
            return StreamingResponse(stream, media_type="text/event-stream")
        message: dict[str, Any] = {"role": "assistant", "content": None if wants_tool else text}
        if wants_tool:
            message["tool_calls"] = [call]
        return JSONResponse(
            {
                "id": "chatcmpl-up",
                "object": "chat.completion",
                "created": 1,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if wants_tool else _finish(model, "length", "stop"),
                        "logprobs": LOGPROBS if body.get("logprobs") else None,
                    }
                ],
                "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
            }
        )

    async def _stream(self, model: str, text: str, call: dict[str, Any] | None, logprobs: bool = False):  # type: ignore[no-untyped-def]
        yield _openai_chunk(model, {"role": "assistant", "content": ""})
        if "drop" in model:
            raise RuntimeError("connection dropped mid-stream (on purpose)")
        if "cutoff" in model:
            yield _openai_chunk(model, {"content": "half an answer, "})
            await asyncio.sleep(0.5)  # the text reaches the agent first
            raise RuntimeError("connection dropped after some text (on purpose)")
        if "trickle" in model:
            try:
                for i in range(50):
                    yield _openai_chunk(model, {"content": f"word{i} "})
                    await asyncio.sleep(0.2)
            except BaseException:
                self.aborted += 1
                raise
        if call:
            yield _openai_chunk(
                model,
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["function"]["name"], "arguments": ""},
                        }
                    ]
                },
            )
            args = call["function"]["arguments"]
            for part in (args[:5], args[5:]):
                yield _openai_chunk(model, {"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
        else:
            for word in text.split(" "):
                yield _openai_chunk(
                    model, {"content": word + " "}, logprobs=chunk_logprobs(word + " ") if logprobs else None
                )
        yield _openai_chunk(model, {}, "tool_calls" if call else _finish(model, "length", "stop"))
        usage = {
            "id": "chatcmpl-up",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": [],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
        }
        yield f"data: {json.dumps(usage)}\n\n".encode()
        yield b"data: [DONE]\n\n"


def _anthropic_error(message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": "api_error", "message": message}}


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode()


def _thinking_events(index: int, block: dict[str, Any]) -> list[bytes]:
    """A thinking block as Anthropic streams one (its text in two deltas, then its signature)."""
    start = {"type": "content_block_start", "index": index}
    stop = _event("content_block_stop", {"type": "content_block_stop", "index": index})
    if block["type"] == "redacted_thinking":
        return [_event("content_block_start", {**start, "content_block": block}), stop]
    text, half = block["thinking"], len(block["thinking"]) // 2
    deltas = [{"type": "thinking_delta", "thinking": text[:half]}, {"type": "thinking_delta", "thinking": text[half:]}]
    deltas.append({"type": "signature_delta", "signature": block["signature"]})
    events = [
        _event("content_block_start", {**start, "content_block": {"type": "thinking", "thinking": "", "signature": ""}})
    ]
    events += [
        _event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}) for d in deltas
    ]
    return events + [stop]


class AnthropicUpstream:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.app = Starlette(
            routes=[
                Route("/v1/messages", self.messages, methods=["POST"]),
                Route("/v1/messages/count_tokens", self.count_tokens, methods=["POST"]),
            ]
        )

    async def count_tokens(self, request: Request) -> Response:
        body = await request.json()
        self.received.append(body)
        return JSONResponse({"input_tokens": 42})

    async def messages(self, request: Request) -> Response:
        body = await request.json()
        self.received.append(body)
        self.headers.append(dict(request.headers))
        model = body["model"]
        failure = await _failure(model, _anthropic_error)
        if failure:
            return failure
        text = _answer("anthropic", model, body["messages"])
        if "leak" in model:
            text += " | mine: ops@leaky-corp.com"
        wants_tool = _wants_tool(model, body["messages"])
        tool = {
            "type": "tool_use",
            "id": "toolu_up1",
            "name": _tool_name(text),
            "input": _tool_input(model),
        }
        if "cli" in model:
            result = _tool_result(body["messages"])
            text, cli = cli_turn(_user_texts(body["messages"]), result, tool_names(body.get("tools")))
            wants_tool = cli is not None
            tool = {**tool, "id": "toolu_cli1", **({"name": cli[0], "input": cli[1]} if cli else {})}
        if body.get("stream"):
            thinking = [THINKING, REDACTED_THINKING] if body.get("thinking") or "thinks" in model else []
            thinking += [LEAKY_THINKING] if thinking and "leak" in model else []
            stream = self._stream(model, text, tool if wants_tool else None, thinking)
            return StreamingResponse(stream, media_type="text/event-stream")
        content = [tool] if wants_tool else [{"type": "text", "text": text}]
        if body.get("thinking") or "thinks" in model:  # extended thinking: the thinking block comes first, signed
            content[:0] = [THINKING, LEAKY_THINKING] if "leak" in model else [THINKING]
        return JSONResponse(
            {
                "id": "msg_up",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": "tool_use" if wants_tool else _finish(model, "max_tokens", "end_turn"),
                "stop_sequence": None,
                "usage": {"input_tokens": 13, "output_tokens": 5},
            }
        )

    async def _stream(
        self, model: str, text: str, tool: dict[str, Any] | None, thinking: list[dict[str, Any]] | None = None
    ):  # type: ignore[no-untyped-def]
        yield _event(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_up",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 13, "output_tokens": 0},
                },
            },
        )
        if "drop" in model:
            raise RuntimeError("connection dropped mid-stream (on purpose)")
        if "cutoff" in model:
            block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
            yield _event("content_block_start", block)
            delta = {"type": "text_delta", "text": "half an answer, "}
            yield _event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
            await asyncio.sleep(0.5)  # the text reaches the agent first
            raise RuntimeError("connection dropped after some text (on purpose)")
        for index, block in enumerate(thinking or []):
            for event in _thinking_events(index, block):
                yield event
        at = len(thinking or [])  # the index of the answer's block
        if tool:
            block = {**tool, "input": {}}
            yield _event("content_block_start", {"type": "content_block_start", "index": at, "content_block": block})
            args = json.dumps(tool["input"])
            for part in (args[:4], args[4:]):
                yield _event(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": at,
                        "delta": {"type": "input_json_delta", "partial_json": part},
                    },
                )
        else:
            yield _event(
                "content_block_start",
                {"type": "content_block_start", "index": at, "content_block": {"type": "text", "text": ""}},
            )
            for word in text.split(" "):
                yield _event(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": at, "delta": {"type": "text_delta", "text": word + " "}},
                )
        yield _event("content_block_stop", {"type": "content_block_stop", "index": at})
        yield _event(
            "message_delta",
            {
                "type": "message_delta",
                "usage": {"output_tokens": 5},
                "delta": {"stop_reason": "tool_use" if tool else _finish(model, "max_tokens", "end_turn")},
            },
        )
        yield _event("message_stop", {"type": "message_stop"})
