"""The built-in demo upstream: answers without any network or API key (chat and embeddings).

It echoes the last user message. To demo tool calls, a user message `/tool NAME {"json": "args"}` makes
it ask for tool NAME (when the agent offered that tool); a tool result is echoed back as the answer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import uuid
from collections.abc import AsyncGenerator

from connectors.base import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Message,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)


def _tool_call(request: ChatRequest) -> ToolCall | None:
    last = request.messages[-1] if request.messages else Message(role="user")
    if last.role != "user" or not last.text().startswith("/tool "):
        return None
    name, _, args = last.text()[6:].strip().partition(" ")
    if name not in {t.name for t in request.tools}:
        return None
    try:
        arguments = json.dumps(json.loads(args or "{}"))
    except json.JSONDecodeError:
        arguments = json.dumps({"text": args})
    return ToolCall(id=f"call_{uuid.uuid4().hex[:12]}", name=name, arguments=arguments)


def _answer(request: ChatRequest) -> str:
    last = request.messages[-1] if request.messages else Message(role="user")
    if last.role == "tool":
        return f"The tool returned: {last.text()}"
    return f"echo: {last.text()}"


def _usage(request: ChatRequest, output: str) -> Usage:
    words = sum(len(m.text().split()) for m in request.messages)
    return Usage(input_tokens=words, output_tokens=len(output.split()))


def _token_texts(tokens: list[int] | list[list[int]]) -> list[str]:
    """Token-id input as one text per input (an array of ints is one input)."""
    if tokens and isinstance(tokens[0], int):
        return [" ".join(map(str, tokens))]
    return [" ".join(map(str, each)) for each in tokens if isinstance(each, list)]


def _vector(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round(b / 255, 6) for b in digest[:8]]


class EchoConnector:
    """Answers from the request itself.

    >>> import asyncio
    >>> from connectors.base import Message
    >>> req = ChatRequest(model="echo", messages=[Message(role="user", content="hi")])
    >>> asyncio.run(EchoConnector("echo").complete(req, timeout=1)).content
    'echo: hi'
    """

    def __init__(self, model: str = "echo") -> None:
        self.model = model

    async def embed(self, request: EmbeddingRequest, *, timeout: float) -> EmbeddingResponse:
        """A deterministic 8-dimension vector per input (a hash of its text): stable, not semantic."""
        base64_wanted = request.passthrough.get("openai", {}).get("encoding_format") == "base64"
        texts = request.inputs if request.token_input is None else _token_texts(request.token_input)
        vectors = [_vector(text) for text in texts]
        encoded: list[list[float] | str] = [
            base64.b64encode(struct.pack("<8f", *v)).decode() if base64_wanted else v for v in vectors
        ]
        tokens = sum(len(text.split()) for text in texts)
        return EmbeddingResponse(model=self.model, embeddings=encoded, usage=Usage(input_tokens=tokens))

    async def complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse:
        call = _tool_call(request)
        rid = f"echo-{uuid.uuid4().hex[:16]}"
        if call:
            return ChatResponse(
                id=rid,
                model=self.model,
                tool_calls=[call],
                stop_reason="tool_calls",
                usage=_usage(request, call.arguments),
            )
        text = _answer(request)
        return ChatResponse(id=rid, model=self.model, content=text, usage=_usage(request, text))

    async def stream(self, request: ChatRequest, *, timeout: float) -> AsyncGenerator[StreamEvent, None]:
        response = await self.complete(request, timeout=timeout)
        yield StreamStart(id=response.id, model=self.model)
        for i, call in enumerate(response.tool_calls):
            yield ToolCallDelta(index=i, id=call.id, name=call.name)
            yield ToolCallDelta(index=i, arguments=call.arguments)
        words = (response.content or "").split(" ")
        for i, word in enumerate(words):
            if word or i:
                yield TextDelta(text=word if i == 0 else " " + word)
        yield StreamEnd(stop_reason=response.stop_reason, usage=response.usage)
