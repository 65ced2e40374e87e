"""Any OpenAI-compatible Chat Completions server: OpenAI, Azure OpenAI (via base_url), vLLM, Ollama, ..."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from connectors import openai_wire
from connectors.base import ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, StreamEvent
from connectors.errors import UpstreamUnavailable
from connectors.http import HttpClient, join_url, load_event, open_stream, post_json, sse_events


class OpenAIConnector:
    """Sends neutral requests to `{base_url}/chat/completions`.

    >>> OpenAIConnector(client, "http://127.0.0.1:9000/v1", "sk-...", "gpt-4o-mini").url
    'http://127.0.0.1:9000/v1/chat/completions'
    """

    def __init__(
        self,
        client: HttpClient,
        base_url: str,
        api_key: str | None,
        model: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.client = client
        self.url = join_url(base_url, "/chat/completions")
        self.embeddings_url = join_url(base_url, "/embeddings")
        self.responses_url = join_url(base_url, "/responses")  # for a provider that speaks Responses natively
        self.model = model
        self.headers = dict(headers or {})
        if api_key:
            self.headers["authorization"] = f"Bearer {api_key}"

    async def complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse:
        body = openai_wire.render_request(request.model_copy(update={"stream": False}), self.model)
        return openai_wire.parse_response(await post_json(self.client, self.url, body, self.headers, timeout))

    async def embed(self, request: EmbeddingRequest, *, timeout: float) -> EmbeddingResponse:
        body = openai_wire.render_embedding_request(request, self.model)
        answer = await post_json(self.client, self.embeddings_url, body, self.headers, timeout)
        return openai_wire.parse_embedding_response(answer)

    async def stream(self, request: ChatRequest, *, timeout: float) -> AsyncGenerator[StreamEvent, None]:
        body = openai_wire.render_request(request.model_copy(update={"stream": True}), self.model)
        parser = openai_wire.ChunkParser()
        async with open_stream(self.client, self.url, body, self.headers, timeout) as response:
            async for _, data in sse_events(response, self.url):
                if data.strip() == "[DONE]":
                    yield parser.end()
                    return
                for event in parser.feed(load_event(data)):
                    yield event
        raise UpstreamUnavailable("the provider closed the stream before [DONE]")
