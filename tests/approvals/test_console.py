"""The activity console in a real browser (headless Chromium), on both stores: a call made with the OpenAI SDK shows in
the live feed within a second, as one line however many events it has; a search by agent, outcome and PII type lists
exactly the matching calls; the page of a call that was held, approved, redacted and fell back shows its whole
timeline and its session's calls in order; an event's inclusion proof, downloaded from the page, verifies with
`gateway audit verify --proof`; a reviewer who only approves is refused. Refreshes the README's screenshots
(docs/images/activity-*.png) when GATEWAY_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway.approvals.records import Reviewer
from tests.approvals import add_reviewer, run
from tests.approvals.test_browser import APPROVALS, UPDATE_SCREENSHOTS, _sign_in, chromium
from tests.audit.helpers import cli
from tests.conftest import ROOT
from tests.helpers import track

IMAGES = ROOT / "docs" / "images"
# holds the tool route, denies claude, and redacts whatever PII it finds
POLICY = """package gateway

import rego.v1

default hold := null

hold := {"reason": "tool calls need sign-off", "approvers": "finance"} if {
	input.call.target in {"gpt-tool", "flaky"}
	input.call.phase == "request"
}

default reasons := []

reasons := ["claude is not for this agent"] if input.call.target == "claude"

decision := {
	"allow": count(reasons) == 0,
	"reasons": reasons,
	"hold": hold,
	"redact": [p.type | some p in input.pii],
	"route": null,
}
"""
PRICE = {"input": 2.5, "output": 10.0}  # of the gpt route: the overview's spend
AUDIT = {"readers": ["compliance"], "signing_key_env": "GATEWAY_TEST_AUDIT_KEY", "checkpoint_every": 1}


def _policy(tmp_path: Path) -> dict[str, Any]:
    folder = tmp_path / "policy"
    folder.mkdir()
    (folder / "policy.rego").write_text(POLICY)
    return {"dir": str(folder), "timeout_ms": 2000}


def _shot(page: Any, name: str) -> None:
    shot = page.screenshot(path=str(IMAGES / name) if UPDATE_SCREENSHOTS else None, full_page=True)
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"


def _calls(page: Any) -> set[str]:
    return set(page.eval_on_selector_all("#lines tr", "rows => rows.map(r => r.dataset.call)"))


def _rows(gw: Any, wait_for: int = 0) -> list[dict[str, Any]]:
    """The audit log, oldest first (read on a thread of its own: Playwright's loop runs in this one)."""

    async def work(queue: Any, _: Any) -> list[dict[str, Any]]:
        return [row async for row in queue.audit.read()]

    deadline = time.monotonic() + 5
    while True:
        rows: list[dict[str, Any]] = run(gw.settings, work)
        if len(rows) >= wait_for or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def _approve(gw: Any, approval_id: str) -> None:
    async def work(queue: Any, _: Any) -> None:
        await queue.decide(approval_id, Reviewer(name="bob", groups=["finance"]), "approve", "checked the invoice")

    run(gw.settings, work)


SESSION = {"X-Gateway-Session": "case-7"}


def _held_in_session(gw: Any) -> None:
    """A call held while its agent waits, approved by bob: it is then redacted and falls back to a second target."""
    body = {"model": "flaky", "messages": [{"role": "user", "content": "Refund jane.doe@example.com today"}]}
    headers = {"Authorization": f"Bearer {gw.key}", **SESSION}
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(httpx.post, f"{gw.url}/v1/chat/completions", json=body, headers=headers, timeout=30)
        deadline = time.monotonic() + 10
        while not (held := [r for r in _rows(gw) if r["target"] == "flaky" and r["event"] == "held"]):
            assert time.monotonic() < deadline, "the call was not held"
            time.sleep(0.05)
        _approve(gw, held[0]["approval_id"])
        assert answer.result().status_code == 200, answer.result().text


def _traffic(gw: Any) -> dict[str, str]:
    """One call of each kind; the call ids by what happened to them."""
    sdk = track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0, default_headers=SESSION))
    messages = [{"role": "user", "content": "Write to jane.doe@example.com about the refund"}]
    sdk.chat.completions.create(model="gpt", messages=messages)
    _held_in_session(gw)
    with pytest.raises(openai.PermissionDeniedError):
        sdk.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}])
    held = httpx.post(
        f"{gw.url}/v1/chat/completions",
        json={"model": "gpt-tool", "messages": [{"role": "user", "content": "pay invoice 1182"}]},
        headers={"Authorization": f"Bearer {gw.key}", "Prefer": "respond-async"},
        timeout=10,
    )
    assert held.status_code == 202, held.text
    _approve(gw, held.headers["x-gateway-approval"])
    rows = _rows(gw, wait_for=4)
    first = {(r["target"], r["event"]): r["call_id"] for r in reversed(rows)}
    return {
        "pii": first[("gpt", "decision")],
        "denied": first[("claude", "decision")],
        "held": first[("gpt-tool", "held")],
        "fell back": first[("flaky", "held")],
    }


def test_the_activity_console(gateway_factory: Any, database_url: str, tmp_path: Path) -> None:
    gw = gateway_factory(
        database_url, policy=_policy(tmp_path), approvals=APPROVALS, audit=AUDIT, prices={"gpt": PRICE}
    )
    add_reviewer(gw.settings, "carol", ["compliance"])
    add_reviewer(gw.settings, "bob", ["finance"])
    with chromium() as browser:
        carol = _sign_in(browser, gw.url, "carol")
        carol.goto(f"{gw.url}/ui/activity")
        carol.wait_for_selector("#live.on")
        calls = _traffic(gw)
        _live(gw, carol)
        _search(gw, carol, calls)
        _whole_call(gw, carol, calls)
        _call_page(gw, carol, calls, tmp_path)
        _overview(gw, carol, tmp_path)
        _refused(gw, browser)


def _live(gw: Any, page: Any) -> None:
    """An SDK call shows in the feed within a second of its answer; paused, new lines wait for resume."""
    sdk = track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0))
    reply = sdk.chat.completions.with_raw_response.create(model="gpt", messages=[{"role": "user", "content": "hello"}])
    answered = time.monotonic()
    call = _rows(gw, wait_for=1)[-1]["call_id"]
    assert reply.headers["x-gateway-decision-id"]
    page.wait_for_selector(f'#lines tr[data-call="{call}"]', timeout=1000)
    assert time.monotonic() - answered < 1.0
    page.wait_for_timeout(600)  # the call's later events (its outcome) replace its line: one line a call
    assert page.locator(f'#lines tr[data-call="{call}"]').count() == 1
    assert len(_calls(page)) == page.locator("#lines tr").count()
    _shot(page, "activity-live.png")
    page.click("#pause")
    sdk.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "again"}])
    page.locator("#held-back", has_text=" new").wait_for(timeout=2000)
    before = page.locator("#lines tr").count()
    page.click("#pause")  # resume
    assert page.locator("#lines tr").count() > before
    page.keyboard.press("j")  # the keyboard: the newest line, then open its call
    newest = page.locator("#lines tr.current").get_attribute("data-call")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/ui/calls/{newest}")


def _search(gw: Any, page: Any, calls: dict[str, str]) -> None:
    page.goto(f"{gw.url}/ui/activity?agent=support-bot&outcome=denied")
    assert _calls(page) == {calls["denied"]}
    page.goto(f"{gw.url}/ui/activity")
    page.fill("input[name=pii]", "EMAIL_ADDRESS")
    page.select_option("select[name=outcome]", "allowed")
    page.click("#search button[type=submit]")
    page.wait_for_url("**pii=EMAIL_ADDRESS**")
    assert _calls(page) == {calls["pii"], calls["fell back"]}  # the held call was allowed, then held
    assert page.locator("#lines td", has_text="EMAIL_ADDRESS").count() == 2
    _shot(page, "activity-search.png")
    page.goto(f"{gw.url}/ui/activity?agent=someone-else")
    assert _calls(page) == set() and page.locator("#no-lines").is_visible()
    with page.expect_download() as download:
        page.goto(f"{gw.url}/ui/activity?agent=support-bot&outcome=denied")
        page.click("#export-jsonl")
    lines = Path(download.value.path()).read_text().splitlines()
    assert len(lines) == 1 and calls["denied"] in lines[0]
    exported = [r for r in _rows(gw) if r["target"] == "audit.export"]
    assert exported and exported[-1]["actor"] == "carol"  # the export is audited


def _whole_call(gw: Any, page: Any, calls: dict[str, str]) -> None:
    """Held, approved, redacted, fell back, served: on the call's line and its page, with its session's calls."""
    page.goto(f"{gw.url}/ui/activity?outcome=fell+back")
    assert _calls(page) == {calls["fell back"]}
    outcomes = page.locator("#lines tr").first.get_attribute("data-outcomes") or ""
    assert outcomes.split(",") == ["allowed", "redacted", "held", "approved", "fell back", "served"], outcomes
    page.goto(f"{gw.url}/ui/calls/{calls['fell back']}")
    events = page.eval_on_selector_all("#timeline .step", "steps => steps.map(s => s.dataset.event)")
    assert events[:4] == ["decision", "redacted", "held", "approved"] and events[-1] in ("outcome", "decision"), events
    timeline = page.locator("#timeline").inner_text()
    assert "tool calls need sign-off" in timeline and "EMAIL_ADDRESS" in timeline and "claude-ok" in timeline
    assert "jane.doe" not in page.content()
    chain = page.eval_on_selector_all("#session li", "items => items.map(i => i.dataset.call)")
    assert chain == [calls["pii"], calls["fell back"], calls["denied"]], chain  # the session's calls, in order
    assert page.locator("#session li.this").get_attribute("data-call") == calls["fell back"]
    page.click("#session-search")  # the session's calls in the activity list
    page.wait_for_url("**/ui/activity?session=**")
    assert _calls(page) == {calls["pii"], calls["fell back"], calls["denied"]}
    with page.expect_download() as download:  # "export these": the session's events, and only those
        page.click("#export-jsonl")
    exported = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
    assert exported and {e["call_id"] for e in exported} == {calls["pii"], calls["fell back"], calls["denied"]}
    page.goto(f"{gw.url}/ui/calls/{calls['fell back']}")
    _shot(page, "activity-call.png")


def _call_page(gw: Any, page: Any, calls: dict[str, str], tmp_path: Path) -> None:
    page.goto(f"{gw.url}/ui/calls/{calls['held']}")
    events = page.eval_on_selector_all("#timeline .step", "steps => steps.map(s => s.dataset.event)")
    assert events == ["decision", "held", "outcome", "approved"], events
    assert "tool calls need sign-off" in page.locator("#timeline").inner_text()
    assert (
        "checked the invoice" in page.locator("#timeline").inner_text()
        or "bob" in page.locator("#timeline").inner_text()
    )
    with page.expect_download() as download:
        page.locator("#timeline .proof").first.click()
    proof = tmp_path / "proof.json"
    download.value.save_as(proof)
    checked = cli(tmp_path, gw.settings.database_url, "audit", "verify", "--proof", str(proof))
    assert checked.returncode == 0 and "ok: event seq" in checked.stdout, checked.stdout + checked.stderr
    page.goto(f"{gw.url}/ui/calls/{calls['pii']}")
    assert "EMAIL_ADDRESS × 1" in page.locator("#timeline").inner_text()
    assert "jane.doe" not in page.content()  # types and counts, never values


def _overview(gw: Any, page: Any, tmp_path: Path) -> None:
    """The overview's counts are the export's for the same period."""
    page.goto(f"{gw.url}/ui/overview")
    since = page.input_value("input[name=since]")
    exported = cli(tmp_path, gw.settings.database_url, "audit", "export", "--since", since + "+00:00")
    assert exported.returncode == 0, exported.stderr
    events = [json.loads(line) for line in exported.stdout.splitlines()]
    agent = [e for e in events if e["agent"] == "support-bot"]
    calls = sum(e["event"] == "decision" and e["phase"] == "request" for e in agent)
    denied = sum(e["event"] == "decision" and not e["allow"] for e in agent)
    row = page.locator('#agents tr[data-agent="support-bot"]')
    assert int(row.locator(".calls").inner_text()) == calls > 0
    assert row.locator(".denied").inner_text().split()[0] == str(denied)
    assert "claude is not for this agent" in row.locator(".denied").inner_text()
    emails = sum(p["type"] == "EMAIL_ADDRESS" for e in agent if e["event"] == "decision" for p in e["pii"])
    assert f"EMAIL_ADDRESS × {emails}" in row.inner_text() and emails >= 2
    tokens = {}  # a call's tokens are on its events (the outcome's, when there is one): counted once a call
    for e in agent:
        if e["target"] == "gpt":
            tokens[e["call_id"]] = max(
                tokens.get(e["call_id"], (0, 0)), (e["input_tokens"] or 0, e["output_tokens"] or 0)
            )
    spend = sum(i * PRICE["input"] + o * PRICE["output"] for i, o in tokens.values()) / 1_000_000
    assert row.locator(".spend").inner_text() == f"${spend:.4f}" and spend > 0
    assert page.locator("#calls-chart rect.bar").count() >= 1 and page.locator("#pii-chart").is_visible()
    _shot(page, "activity-overview.png")


def _refused(gw: Any, browser: Any) -> None:
    bob = _sign_in(browser, gw.url, "bob")
    assert bob.locator("nav a", has_text="Activity").count() == 0
    for path in ("/ui/activity", "/ui/calls/x", "/ui/activity/export"):
        response = bob.goto(f"{gw.url}{path}")
        assert response is not None and response.status == 403
        assert "not an audit reader" in bob.content()
    refused = [r for r in _rows(gw) if r["event"] == "refused" and r["actor"] == "bob"]
    assert refused
