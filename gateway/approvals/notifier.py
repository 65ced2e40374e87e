"""Tells reviewers of new holds by webhook (being built)."""

from __future__ import annotations

from connectors.http import HttpClient
from gateway.approvals.queue import ApprovalQueue
from gateway.settings import WebhookConfig


class WebhookNotifier:
    def __init__(self, config: WebhookConfig, queue: ApprovalQueue, http: HttpClient, public_url: str | None) -> None:
        self.config = config
        self.queue = queue
        self.http = http
        self.public_url = public_url

    def attach(self) -> None:
        """Start listening to `queue.on_held`."""

    async def aclose(self) -> None:
        """Finish (or give up on) deliveries in flight."""
