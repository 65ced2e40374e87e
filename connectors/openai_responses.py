"""An OpenAI-compatible server that also speaks the Responses API: `{base_url}/responses`, besides everything
`OpenAIConnector` sends (Chat Completions, embeddings).

The gateway sends a Responses call here natively only when the provider is configured so (`responses: native`);
otherwise the call is translated to Chat Completions like any other.

    >>> OpenAIResponsesConnector(client, "http://127.0.0.1:9000/v1", "sk-...", "gpt-5").responses_url
    'http://127.0.0.1:9000/v1/responses'
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Protocol, runtime_checkable

from connectors import responses_native
from connectors.base import ChatRequest, ChatResponse, StreamEvent
from connectors.errors import UpstreamUnavailable
from connectors.http import load_event, open_stream, post_json, sse_events
from connectors.openai import OpenAIConnector


@runtime_checkable
class ResponsesConnector(Protocol):
    """A connector whose upstream speaks the Responses API natively."""

    async def respond(self, request: ChatRequest, *, timeout: float) -> ChatResponse: ...

    def respond_stream(self, request: ChatRequest, *, timeout: float) -> AsyncGenerator[StreamEvent, None]: ...


class OpenAIResponsesConnector(OpenAIConnector):
    """An OpenAI-compatible provider that also takes `/v1/responses` calls as they are (`responses: native`)."""

    async def respond(self, request: ChatRequest, *, timeout: float) -> ChatResponse:
        body = responses_native.render_body(request.model_copy(update={"stream": False}), self.model)
        answer = await post_json(self.client, self.responses_url, body, self.headers, timeout)
        return responses_native.parse_answer(answer)

    async def respond_stream(self, request: ChatRequest, *, timeout: float) -> AsyncGenerator[StreamEvent, None]:
        body = responses_native.render_body(request.model_copy(update={"stream": True}), self.model)
        parser = responses_native.EventParser()
        async with open_stream(self.client, self.responses_url, body, self.headers, timeout) as response:
            async for _, data in sse_events(response, self.responses_url):
                if data.strip() == "[DONE]":
                    break
                for event in parser.feed(load_event(data)):
                    yield event
                if parser.ended:
                    return
        raise UpstreamUnavailable("the provider closed the stream before the response was complete")
