"""Connector factories by upstream kind: built-ins use the same table an extension would."""

from __future__ import annotations

from collections.abc import Callable

from connectors.anthropic import AnthropicConnector
from connectors.base import Connector
from connectors.echo import EchoConnector
from connectors.http import HttpClient
from connectors.openai_responses import OpenAIResponsesConnector

Factory = Callable[[HttpClient, str, str | None, str, dict[str, str]], Connector]

FACTORIES: dict[str, Factory] = {
    # Chat Completions and embeddings; Responses natively too, for a provider configured `responses: native`
    "openai": lambda client, url, key, model, headers: OpenAIResponsesConnector(client, url, key, model, headers),
    "anthropic": lambda client, url, key, model, headers: AnthropicConnector(client, url, key, model, headers),
    "echo": lambda client, url, key, model, headers: EchoConnector(model),
}


def build(
    kind: str,
    client: HttpClient,
    base_url: str,
    api_key: str | None,
    model: str,
    headers: dict[str, str] | None = None,
) -> Connector:
    """A connector for one (provider, model) pair.

    >>> build("echo", client, "", None, "echo").model
    'echo'
    """
    try:
        factory = FACTORIES[kind]
    except KeyError:
        raise ValueError(f"unknown provider kind {kind!r}; known: {', '.join(sorted(FACTORIES))}") from None
    return factory(client, base_url, api_key, model, headers or {})
