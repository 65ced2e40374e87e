"""The webhook notifier against a real HTTP receiver on a loopback port: retries, recorded state, the body."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from connectors.http import new_client
from gateway.approvals.cipher import PayloadCipher
from gateway.approvals.notifier import WebhookNotifier
from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.records import Approval
from gateway.audit.records import AuditLog
from gateway.settings import ApprovalsConfig, WebhookConfig
from gateway.store.db import Database
from tests.approvals_cli.holds import SECRET_ARGUMENT, held_call
from tests.conftest import ServerThread
from tests.processes import free_port

PUBLIC_URL = "https://gateway.example.com/"


class Receiver:
    """A webhook endpoint that answers 500 to the first `fail_first` posts, after `delay` seconds each."""

    def __init__(self, fail_first: int = 0, delay: float = 0.0) -> None:
        self.fail_first = fail_first
        self.delay = delay
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> PlainTextResponse:
        self.posts.append((dict(request.headers), await request.body()))
        await asyncio.sleep(self.delay)
        if len(self.posts) <= self.fail_first:
            return PlainTextResponse("busy, try later", status_code=500)
        return PlainTextResponse("ok")


@asynccontextmanager
async def notifying(sqlite_url: str, url: str, **webhook: Any) -> AsyncIterator[tuple[ApprovalQueue, WebhookNotifier]]:
    db = Database(sqlite_url)
    await db.migrate()
    hook = WebhookConfig(url=url, headers={"Authorization": "Bearer hook-secret"}, **webhook)
    config = ApprovalsConfig(public_url=PUBLIC_URL, webhook=hook)
    audit = AuditLog(db)
    queue = ApprovalQueue(db, config, PayloadCipher(b"a-test-key"), audit)
    http = new_client()
    notifier = WebhookNotifier(hook, queue, http, config.public_url)
    notifier.attach()
    try:
        yield queue, notifier
    finally:
        await notifier.aclose()
        await http.close()
        await audit.aclose()
        await db.aclose()


async def settled(queue: ApprovalQueue, approval: Approval, timeout: float = 10.0) -> dict[str, Any]:
    """The notify state once the delivery is over (delivered or failed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fresh = await queue.get(approval.approval_id)
        assert fresh is not None
        if fresh.notify.get("status") in ("delivered", "failed"):
            return fresh.notify
        await asyncio.sleep(0.02)
    raise AssertionError(f"delivery did not finish: {fresh.notify}")


async def test_retries_until_the_receiver_accepts_and_records_delivered(sqlite_url: str) -> None:
    receiver = Receiver(fail_first=2)
    with ServerThread(receiver.app) as server:
        async with notifying(sqlite_url, f"{server.url}/hook", retries=5, backoff_s=0.05) as (queue, _):
            approval = await queue.hold(held_call())
            state = await settled(queue, approval)
    assert state["status"] == "delivered" and state["attempts"] == 3 and "error" not in state
    assert len(receiver.posts) == 3
    assert all(headers["authorization"] == "Bearer hook-secret" for headers, _ in receiver.posts)


async def test_a_receiver_that_never_accepts_ends_in_failed_with_the_error(sqlite_url: str) -> None:
    receiver = Receiver(fail_first=10**6)
    with ServerThread(receiver.app) as server:
        async with notifying(sqlite_url, f"{server.url}/hook", retries=2, backoff_s=0.05) as (queue, _):
            state = await settled(queue, await queue.hold(held_call()))
    assert state["status"] == "failed" and state["attempts"] == 3 and len(receiver.posts) == 3
    assert state["error"] == "HTTP 500: busy, try later"
    assert state["at"]


async def test_an_unreachable_receiver_ends_in_failed(sqlite_url: str) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"  # nobody listens there
    async with notifying(sqlite_url, url, retries=1, backoff_s=0.01) as (queue, _):
        state = await settled(queue, await queue.hold(held_call()))
    assert state["status"] == "failed" and state["attempts"] == 2
    assert "ClientConnectorError" in state["error"]


async def test_the_body_is_slack_compatible_and_names_the_call_without_its_arguments(sqlite_url: str) -> None:
    receiver = Receiver()
    with ServerThread(receiver.app) as server:
        async with notifying(sqlite_url, f"{server.url}/hook") as (queue, _):
            approval = await queue.hold(held_call(tool="issue_refund"))
            await settled(queue, approval)
    (headers, raw), *_ = receiver.posts
    assert headers["content-type"].startswith("application/json")
    assert SECRET_ARGUMENT.encode() not in raw and b"api_key" not in raw and b"arguments" not in raw
    body = json.loads(raw)
    assert set(body) == {"text", "blocks"} and isinstance(body["text"], str)
    assert all(isinstance(block, dict) and "type" in block for block in body["blocks"])
    link = f"https://gateway.example.com/ui/?id={approval.approval_id}"
    for wanted in (approval.approval_id, "support-bot", "cs", "echo", "issue_refund", "finance", "refunds over 1000"):
        assert wanted in body["text"], wanted
    assert link in body["text"]
    assert approval.expires_at.strftime("%Y-%m-%d %H:%M:%S UTC") in body["text"]
    button = next(b for b in body["blocks"] if b["type"] == "actions")["elements"][0]
    assert button["url"] == link


async def test_tool_names_cannot_plant_slack_links(sqlite_url: str) -> None:
    receiver = Receiver()
    with ServerThread(receiver.app) as server:
        async with notifying(sqlite_url, f"{server.url}/hook") as (queue, _):
            await settled(queue, await queue.hold(held_call(tool="<https://evil.example|Approve here>")))
    body = json.loads(receiver.posts[0][1])
    assert "<https://evil" not in json.dumps(body)
    assert "&lt;https://evil.example|Approve here&gt;" in body["text"]


async def test_a_slow_receiver_does_not_delay_the_held_call_and_close_cancels(sqlite_url: str) -> None:
    receiver = Receiver(delay=2.0)
    with ServerThread(receiver.app) as server:
        async with notifying(sqlite_url, f"{server.url}/hook", timeout_s=10.0) as (queue, notifier):
            started = time.monotonic()
            approval = await queue.hold(held_call())
            assert time.monotonic() - started < 1.0
            while not receiver.posts:  # the delivery is in flight
                await asyncio.sleep(0.02)
            started = time.monotonic()
            await notifier.aclose()
            assert time.monotonic() - started < 1.0
            fresh = await queue.get(approval.approval_id)
            assert fresh is not None and fresh.notify == {"status": "pending", "attempts": 0}
            notifier.notify(fresh)  # after close: ignored, nothing is started
            assert len(receiver.posts) == 1
