"""Real agent frameworks, unchanged apart from their base URL, against the gateway and stand-in providers.

Each framework runs an agent loop where it can: the model (a stand-in whose `*agent*` models ask for one tool
call, then answer with the tool's result) asks for `get_weather`, the framework runs it, sends the result back,
and the final answer carries it. The gateway's audit log must show every step.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import audit_rows

# the frameworks' own warnings, and the event loops and connections some leave open (pydantic-ai's run_sync keeps
# a loop): theirs, not the gateway's, and collected right here (below) so no later test inherits them
pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning",
    "ignore::PendingDeprecationWarning",
    "ignore::ResourceWarning",
    "ignore::pytest.PytestUnraisableExceptionWarning",
)


@pytest.fixture(autouse=True)
def _collect_leftovers() -> Iterator[None]:
    yield
    gc.collect()


AGENTS_DEFAULT_MODEL = "gpt-5.6-luna"  # openai-agents' default model: an alias the gateway routes


def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"sunny in {city}"


@pytest.fixture
def gw(gateway_factory: Any, sqlite_url: str) -> Any:
    routes = {
        AGENTS_DEFAULT_MODEL: {"provider": "oai", "model": "gpt-agent"},
        "gpt": {"provider": "oai", "model": "gpt-test"},
        "gpt-agent": {"provider": "oai", "model": "gpt-agent"},
        "claude": {"provider": "ant", "model": "claude-test"},
        "claude-agent": {"provider": "ant", "model": "claude-agent"},
    }
    return gateway_factory(sqlite_url, routes=routes)


def test_openai_agents_sdk_on_its_default_model(gw: Any) -> None:
    from agents import Agent, Runner, function_tool, set_default_openai_client, set_tracing_disabled
    from openai import AsyncOpenAI

    async def run() -> str:
        client = AsyncOpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0)
        set_default_openai_client(client, use_for_tracing=False)
        set_tracing_disabled(True)
        agent = Agent(name="weather", instructions="Use the tool.", tools=[function_tool(get_weather)])
        try:
            result = await Runner.run(agent, "weather in Paris?")
        finally:
            await client.close()
        return str(result.final_output)

    assert asyncio.run(run()) == "done: sunny in Paris"
    rows = audit_rows(gw.settings.database_url, wait_for=4)
    assert {r["target"] for r in rows} == {AGENTS_DEFAULT_MODEL} and all(r["allow"] for r in rows)


def test_langchain_chat_openai_with_the_responses_api(gw: Any) -> None:
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(model="gpt-agent", base_url=f"{gw.url}/v1", api_key=gw.key, use_responses_api=True)
    first = model.bind_tools([get_weather]).invoke("weather in Paris?")
    assert first.tool_calls[0]["name"] == "get_weather"
    plain = ChatOpenAI(model="gpt", base_url=f"{gw.url}/v1", api_key=gw.key, use_responses_api=True).invoke("hi")
    assert plain.text == "openai says: hi"


def test_langchain_chat_anthropic_with_tools(gw: Any) -> None:
    from langchain_anthropic import ChatAnthropic
    from langchain_core.messages import HumanMessage, ToolMessage

    model = ChatAnthropic(model="claude-agent", base_url=gw.url, api_key=gw.key, max_retries=0)
    bound = model.bind_tools([get_weather])
    first = bound.invoke([HumanMessage("weather in Paris?")])
    call = first.tool_calls[0]
    second = bound.invoke([HumanMessage("weather in Paris?"), first, ToolMessage("sunny", tool_call_id=call["id"])])
    assert second.text == "done: sunny"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_pydantic_ai_on_both_providers(gw: Any, provider: str) -> None:
    from pydantic_ai import Agent

    if provider == "openai":
        from pydantic_ai.models.openai import OpenAIResponsesModel
        from pydantic_ai.providers.openai import OpenAIProvider

        model: Any = OpenAIResponsesModel("gpt-agent", provider=OpenAIProvider(base_url=f"{gw.url}/v1", api_key=gw.key))
    else:
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        model = AnthropicModel("claude-agent", provider=AnthropicProvider(base_url=gw.url, api_key=gw.key))
    agent = Agent(model, tools=[get_weather])
    result = agent.run_sync("weather in Paris?")
    assert result.output == "done: sunny in Paris"


@pytest.mark.parametrize("model", ["openai/gpt", "anthropic/claude"])
def test_litellm_sdk(gw: Any, model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch of the price list from the internet
    import litellm

    base = f"{gw.url}/v1" if model.startswith("openai/") else gw.url
    reply = litellm.completion(model=model, api_base=base, api_key=gw.key, messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content.endswith("says: hi")
