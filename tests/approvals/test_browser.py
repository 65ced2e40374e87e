"""The reviewers' page in a real browser (headless Chromium): sign in, move with the keyboard, approve with
`a`, and watch a second reviewer's page follow live over server-sent events. Also refreshes the screenshot
in docs/images/approval-queue.png when GATEWAY_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.approvals import PASSWORD, add_reviewer, allow_all_policy, approval, held, hold, run
from tests.conftest import ROOT, missing_service

CHROMIUM = Path("/usr/lib/chromium/chromium")
# the README's screenshot is refreshed only on request (GATEWAY_UPDATE_SCREENSHOTS=1): a test run leaves the
# checkout as it found it
SCREENSHOT = ROOT / "docs" / "images" / "approval-queue.png"
UPDATE_SCREENSHOTS = os.environ.get("GATEWAY_UPDATE_SCREENSHOTS") == "1"
APPROVALS = {"key_env": "GATEWAY_TEST_APPROVALS_KEY", "poll_s": 0.2, "timeout_s": 1800}


@contextmanager
def chromium() -> Iterator[Any]:
    """Headless Chromium; started after the gateway, whose fixtures run their own event loops."""
    if not CHROMIUM.is_file():
        missing_service(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            browser.close()


def _seed(settings: Any) -> list[str]:
    transfer = {
        "tool_calls": [
            {
                "id": "call_7Qm2",
                "name": "transfer_funds",
                "arguments": {
                    "amount": 5000,
                    "currency": "EUR",
                    "to": "DE89 3704 0044 0532 0130 00",
                    "memo": "invoice 1182\u200b",
                },
            }
        ]
    }
    refund = {
        "tool_calls": [{"id": "call_9Xa1", "name": "issue_refund", "arguments": {"order": "A-88412", "amount": 1290}}]
    }
    model = {
        "model": "gpt",
        "messages": [{"role": "user", "content": "Summarise the contract for the board, including clause 7."}],
    }
    ids = hold(
        settings,
        held(action=transfer),
        held(
            action=refund,
            tool_calls=["issue_refund"],
            reason="refund above the agent's limit",
            end_user="user-17",
            reasons=["amount over 1000", "customer flagged for review"],
        ),
        held(
            action=model,
            kind="model",
            phase="request",
            tool_calls=[],
            approvers=None,
            agent="contracts-bot",
            team="legal",
            reason="board material leaves the company",
            reasons=[],
        ),
    )

    async def webhook_failed(queue: Any, _: Any) -> None:  # the queue page shows failed notifications
        await queue.record_notify(ids[1], {"status": "failed", "attempts": 6, "error": "HTTP 503 from hooks.slack.com"})
        await queue.record_notify(ids[0], {"status": "sent", "attempts": 1})

    run(settings, webhook_failed)
    return ids


def _sign_in(browser: Any, url: str, name: str) -> Any:
    page = browser.new_context(viewport={"width": 1360, "height": 1000}).new_page()
    page.goto(f"{url}/ui/")
    assert page.url.endswith("/ui/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/ui/")
    page.wait_for_selector("#live.on")  # subscribed to live updates
    return page


def test_review_in_the_browser(gateway_factory: Any, sqlite_url: str, tmp_path: Any) -> None:
    gw = gateway_factory(sqlite_url, policy=allow_all_policy(tmp_path), approvals=APPROVALS)
    add_reviewer(gw.settings, "alice", ["finance", "payments"])
    add_reviewer(gw.settings, "bob", ["finance"])
    first, second, third = _seed(gw.settings)
    with chromium() as browser:
        _review(gw, browser, first, second, third)


def _review(gw: Any, browser: Any, first: str, second: str, third: str) -> None:
    alice, bob = _sign_in(browser, gw.url, "alice"), _sign_in(browser, gw.url, "bob")
    try:
        assert alice.locator("#items .item").count() == 3
        assert alice.locator(f"#item-{first} mark.uc").inner_text() == "⟨U+200B⟩"
        assert "HTTP 503 from hooks.slack.com" in alice.locator(f"#item-{second} .notify").inner_text()
        shot = alice.screenshot(path=str(SCREENSHOT) if UPDATE_SCREENSHOTS else None, full_page=True)
        assert shot[:8] == b"\x89PNG\r\n\x1a\n"

        current = alice.locator("#items .item.current")
        assert current.get_attribute("data-id") == first
        alice.keyboard.press("j")
        alice.keyboard.press("j")
        assert current.get_attribute("data-id") == third
        alice.keyboard.press("k")
        assert current.get_attribute("data-id") == second
        alice.keyboard.press("a")  # approve the current one

        alice.wait_for_selector(f"#item-{second}", state="detached")
        bob.wait_for_selector(f"#item-{second}", state="detached")  # live, without a reload
        assert approval(gw.settings, second).status == "approved"
        assert alice.locator("#count").inner_text() == "2" and bob.locator("#count").inner_text() == "2"
        assert "issue_refund approved." in alice.locator("#toasts").inner_text()

        # a new hold shows up on both pages; bob selects two and rejects them together with a reason
        (fourth,) = hold(gw.settings, held())
        bob.wait_for_selector(f"#item-{fourth}")
        alice.wait_for_selector(f"#item-{fourth}")
        bob.keyboard.press("x")
        bob.keyboard.press("j")
        bob.keyboard.press("j")
        bob.keyboard.press("x")
        assert bob.locator("#selected-count").inner_text() == "2"
        bob.keyboard.press("r")
        bob.locator("#bulk select[name=reason]").select_option("Wrong recipient")
        bob.keyboard.press("Enter")
        alice.wait_for_selector(f"#item-{first}", state="detached")
        alice.wait_for_selector(f"#item-{fourth}", state="detached")
        assert approval(gw.settings, first).comment == "Wrong recipient"
        assert alice.locator("#items .item").count() == 1  # the model call nobody decided yet

        bob.keyboard.press("?")
        assert bob.locator("#help").is_visible()
        bob.keyboard.press("Escape")
    finally:
        alice.context.close()
        bob.context.close()
