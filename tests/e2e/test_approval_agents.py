"""The whole sign-off flow with real clients: an SDK agent's tool call is held, a reviewer approves it in
the web page (headless Chromium, keyboard only), and the agent's call completes with the tool call."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from tests.approvals import add_reviewer, approval
from tests.approvals.test_browser import _sign_in, chromium
from tests.helpers import track
from tests.hold.test_hold import HOLDS, TOOLS, TRANSFER, finished, in_background

pytestmark = pytest.mark.e2e

APPROVALS = {"key_env": "GATEWAY_TEST_APPROVALS_KEY", "poll_s": 0.2, "keepalive_s": 0.5, "timeout_s": 60}


@pytest.fixture
def gw(gateway_factory: Any, sqlite_url: str, tmp_path: Any) -> Any:
    (tmp_path / "policy.rego").write_text(HOLDS)
    gateway = gateway_factory(sqlite_url, policy={"dir": str(tmp_path), "timeout_ms": 2000}, approvals=APPROVALS)
    add_reviewer(gateway.settings, "fiona", ["finance"])
    return gateway


def openai_agent(gw: Any, stream: bool) -> tuple[str, dict[str, Any]]:
    client = track(openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0, timeout=60))
    response = client.chat.completions.create(model="gpt-tool", messages=TRANSFER, tools=TOOLS, stream=stream)
    if not stream:
        call = response.choices[0].message.tool_calls[0].function
        return call.name, json.loads(call.arguments)
    name, arguments = "", ""
    for chunk in response:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            name += delta.function.name or ""
            arguments += delta.function.arguments or ""
    return name, json.loads(arguments)


def anthropic_agent(gw: Any, stream: bool) -> tuple[str, dict[str, Any]]:
    client = track(anthropic.Anthropic(base_url=gw.url, api_key=gw.key, max_retries=0, timeout=60))
    tools = [{"name": "transfer_funds", "input_schema": {"type": "object", "properties": {}}}]
    kwargs: dict[str, Any] = {"model": "claude-tool", "max_tokens": 100, "messages": TRANSFER, "tools": tools}
    if stream:
        with client.messages.stream(**kwargs) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(**kwargs)
    (use,) = [block for block in message.content if block.type == "tool_use"]
    return use.name, dict(use.input)


@pytest.mark.parametrize(
    ("agent", "stream"),
    [(openai_agent, False), (openai_agent, True), (anthropic_agent, False), (anthropic_agent, True)],
    ids=["openai", "openai-stream", "anthropic", "anthropic-stream"],
)
def test_a_reviewer_approves_in_the_browser_and_the_agent_gets_its_tool_call(gw: Any, agent: Any, stream: bool):
    out = in_background(lambda: agent(gw, stream))
    with chromium() as browser:
        page = _sign_in(browser, gw.url, "fiona")
        try:
            page.wait_for_selector("#items .item")  # arrives live
            item = page.locator("#items .item.current")
            approval_id = item.get_attribute("data-id")
            assert "transfer_funds" in item.inner_text()
            page.keyboard.press("a")
            page.wait_for_selector(f"#item-{approval_id}", state="detached")
        finally:
            page.context.close()
    name, arguments = finished(out)
    assert name == "transfer_funds" and arguments["amount"] == 5000
    assert approval(gw.settings, approval_id).status == "used"  # delivered, once
