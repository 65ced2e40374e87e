"""Tells reviewers of each new hold by webhook: a Slack-compatible JSON body, posted in the background.

The body names the call (agent, team, target, tool names, why it was held, the approvers group, the
deadline) and links to it in the queue's web page. It never carries the arguments or anything else from the
encrypted payload: a chat channel is not the place for them, and the notifier never reads the payload.

A delivery is retried on connection errors, timeouts and non-2xx answers, `retries` more times with the
wait doubling from `backoff_s`; each try's outcome is recorded on the approval (`notify`), so a webhook
that is down shows in the queue rather than only in a log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

import aiohttp
from sqlalchemy.exc import SQLAlchemyError

from connectors.http import HttpClient
from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.records import Approval
from gateway.errors import GatewayError
from gateway.settings import WebhookConfig

log = logging.getLogger("gateway.approvals.notifier")

_FIELD_CHARS = 300  # Slack caps a field at 2,000 characters; a reviewer needs far fewer to know the call


class WebhookNotifier:
    """Posts a message for every new hold in the queue, without ever delaying or failing the held call.

    >>> notifier = WebhookNotifier(settings.approvals.webhook, queue, http, "https://gw.example.com")  # doctest: +SKIP
    >>> notifier.attach()  # each queue.hold(...) now starts a delivery  # doctest: +SKIP
    >>> await notifier.aclose()  # at shutdown: deliveries still in flight are cancelled  # doctest: +SKIP
    """

    def __init__(self, config: WebhookConfig, queue: ApprovalQueue, http: HttpClient, public_url: str | None) -> None:
        self.config = config
        self.queue = queue
        self.http = http
        self.public_url = public_url
        self._deliveries: set[asyncio.Task[None]] = set()
        self._closed = False

    def attach(self) -> None:
        """Start listening to `queue.on_held`."""
        self.queue.on_held.append(self.notify)

    def notify(self, approval: Approval) -> None:
        """Start delivering the message for `approval` and return at once (called inside `queue.hold`)."""
        if self._closed:
            return
        task = asyncio.get_running_loop().create_task(self._deliver(approval))
        # The loop keeps only weak references to tasks: hold them until they finish.
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def aclose(self) -> None:
        """Finish (or give up on) deliveries in flight: they are cancelled; their last state stays recorded."""
        self._closed = True
        tasks = list(self._deliveries)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _deliver(self, approval: Approval) -> None:
        body = message(approval, self.public_url)
        tries = 1 + self.config.retries
        error = ""
        for attempt in range(1, tries + 1):
            problem = await self._post(body)
            if problem is None:
                await self._record(approval, "delivered", attempt, None)
                return
            error = problem
            log.warning("approvals: webhook for %s, try %d/%d: %s", approval.approval_id, attempt, tries, error)
            if attempt < tries:
                await self._record(approval, "retrying", attempt, error)
                await asyncio.sleep(self.config.backoff_s * 2 ** (attempt - 1))
        log.error("approvals: webhook for %s gave up after %d tries: %s", approval.approval_id, tries, error)
        await self._record(approval, "failed", tries, error)

    async def _post(self, body: dict[str, Any]) -> str | None:
        """One try: None when the receiver answered 2xx, else what went wrong (never the body we sent)."""
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        try:
            async with self.http.post(self.config.url, json=body, headers=self.config.headers, timeout=timeout) as resp:
                if 200 <= resp.status < 300:
                    return None
                answer = (await resp.read())[:200].decode(errors="replace").strip()
                return f"HTTP {resp.status}" + (f": {answer}" if answer else "")
        except TimeoutError:
            return f"no answer within {self.config.timeout_s:g}s"
        except aiohttp.ClientError as exc:
            return f"{type(exc).__name__}: {exc}"[:300]

    async def _record(self, approval: Approval, status: str, attempts: int, error: str | None) -> None:
        state: dict[str, Any] = {"status": status, "attempts": attempts, "at": datetime.now(UTC).isoformat()}
        if error:
            state["error"] = error
        try:
            await self.queue.record_notify(approval.approval_id, state)
        except (GatewayError, SQLAlchemyError, OSError) as exc:  # the delivery matters more than its bookkeeping
            log.warning("approvals: cannot record webhook state for %s: %s", approval.approval_id, exc)


def message(approval: Approval, public_url: str | None) -> dict[str, Any]:
    """The Slack-compatible body for one hold: `text` for plain receivers and notifications, `blocks` for Slack."""
    link = f"{public_url.rstrip('/')}/ui/?id={approval.approval_id}" if public_url else None
    facts = {name: _escape(value) for name, value in _facts(approval).items()}
    reason = _escape(approval.reason)
    text = (
        f"Approval needed: {facts['Agent']} (team {facts['Team']}) wants {_escape(_what(approval))}. "
        f"Held because: {reason}. "
        f"Approvers: {facts['Approvers']}. Decide by {facts['Deadline']}. Approval {approval.approval_id}"
    ) + (f": {link}" if link else "")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Approval needed"}},
        {"type": "section", "text": _mrkdwn(f"*Held because:* {reason}")},
        {"type": "section", "fields": [_mrkdwn(f"*{name}*\n{value}") for name, value in facts.items()]},
    ]
    if link:
        button = {"type": "button", "text": {"type": "plain_text", "text": "Review"}, "url": link}
        blocks.append({"type": "actions", "elements": [button]})
    blocks.append({"type": "context", "elements": [_mrkdwn(f"Approval `{approval.approval_id}`")]})
    return {"text": text, "blocks": blocks}


def _facts(approval: Approval) -> dict[str, str]:
    """Who, what and until when: names only (Slack shows at most 10 fields)."""
    return {
        "Agent": approval.agent,
        "Team": approval.team or "-",
        "Target": f"{approval.kind} {approval.target or '-'}",
        "Tools": ", ".join(approval.tool_calls) or "-",
        "Approvers": approval.approvers or "any reviewer",
        "Deadline": approval.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }


def _what(approval: Approval) -> str:
    tools = f" ({', '.join(approval.tool_calls)})" if approval.tool_calls else ""
    return f"a {approval.kind} call to {approval.target or '-'}{tools}"


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _escape(value: str) -> str:
    """Clipped, and Slack's control characters escaped: an agent picks its tool names and must not plant a link."""
    clipped = value if len(value) <= _FIELD_CHARS else value[: _FIELD_CHARS - 1] + "…"
    return clipped.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
