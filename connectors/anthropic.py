"""Anthropic's Messages API (or any server speaking it)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from urllib.parse import urlsplit

from connectors import anthropic_wire
from connectors.base import ChatRequest, ChatResponse, StreamEvent
from connectors.errors import UpstreamUnavailable
from connectors.http import HttpClient, join_url, load_event, open_stream, post_json, sse_events

API_VERSION = "2023-06-01"


class AnthropicConnector:
    """Sends neutral requests to `{base_url}/v1/messages`.

    >>> AnthropicConnector(client, "https://api.anthropic.com", "sk-ant-...", "claude-x").url
    'https://api.anthropic.com/v1/messages'
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
        path = urlsplit(base_url).path.rstrip("/")
        self.url = join_url(base_url, "/messages" if path.endswith("/v1") else "/v1/messages")
        self.model = model
        self.headers = {"anthropic-version": API_VERSION, **(headers or {})}
        if api_key:
            self.headers["x-api-key"] = api_key

    async def complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse:
        body = anthropic_wire.render_request(request.model_copy(update={"stream": False}), self.model)
        answer = await post_json(self.client, self.url, body, self._headers(request), timeout)
        return anthropic_wire.parse_response(answer)

    def _headers(self, request: ChatRequest) -> dict[str, str]:
        """The provider's headers, plus those the agent sent for Anthropic (`anthropic-beta`)."""
        return {**request.headers.get("anthropic", {}), **self.headers}

    async def count_tokens(self, request: ChatRequest, *, timeout: float) -> int:
        """The provider's own count of the request's input tokens (`/v1/messages/count_tokens`)."""
        body = anthropic_wire.render_request(request, self.model)
        for unused in ("max_tokens", "stream", "stop_sequences", "temperature", "top_p", "metadata"):
            body.pop(unused, None)
        answer = await post_json(self.client, self.url + "/count_tokens", body, self._headers(request), timeout)
        return int(answer.get("input_tokens") or 0)

    async def stream(self, request: ChatRequest, *, timeout: float) -> AsyncGenerator[StreamEvent, None]:
        body = anthropic_wire.render_request(request.model_copy(update={"stream": True}), self.model)
        parser = anthropic_wire.EventParser()
        async with open_stream(self.client, self.url, body, self._headers(request), timeout) as response:
            async for _, data in sse_events(response, self.url):
                event = load_event(data)
                for neutral in parser.feed(event):
                    yield neutral
                if event.get("type") == "message_stop":
                    yield parser.end()
                    return
        raise UpstreamUnavailable("the provider closed the stream before message_stop")
