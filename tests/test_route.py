"""The route stage: aliases and policy overrides to routes, per kind of call."""

from __future__ import annotations

import pytest

from connectors.base import ChatRequest, EmbeddingRequest, ToolCall
from gateway.app import upstream_kinds
from gateway.enforcement import Plan
from gateway.errors import RouteNotFound
from gateway.model import AgentPayload, Call, EmbeddingsPayload, ModelPayload, Principal, ToolPayload
from gateway.settings import Settings
from gateway.stages.route import find_route as route_of

SETTINGS = Settings.model_validate(
    {
        "providers": {"echo": {"kind": "echo"}},
        "routes": {"fast": {"provider": "echo", "model": "small"}, "cheap": {"provider": "echo", "model": "tiny"}},
    }
)
PRINCIPAL = Principal(agent="a", key_id="k")


def find_route(call, plan, settings):
    return route_of(call, plan, settings, upstream_kinds())


def call(payload) -> Call:
    return Call(surface="openai", principal=PRINCIPAL, request_id="r", payload=payload)


def chat(model: str) -> Call:
    return call(ModelPayload(request=ChatRequest(model=model, messages=[])))


def allow(route: str | None = None) -> Plan:
    return Plan(action="allow", decision_id="d", route=route)


def test_the_alias_asked_for_picks_the_route():
    route = find_route(chat("fast"), allow(), SETTINGS)
    assert route.alias == "fast" and route.config.model == "small"


def test_the_policys_route_override_wins():
    route = find_route(chat("fast"), allow("cheap"), SETTINGS)
    assert route.alias == "cheap" and route.config.model == "tiny"


def test_embeddings_are_routed_by_alias_too():
    embeddings = call(EmbeddingsPayload(request=EmbeddingRequest(model="cheap", inputs=["x"])))
    assert find_route(embeddings, allow(), SETTINGS).alias == "cheap"


def test_an_unknown_alias_names_the_known_ones():
    with pytest.raises(RouteNotFound, match=r"'nope' has no route on this gateway \(routes: cheap, fast\)"):
        find_route(chat("nope"), allow(), SETTINGS)
    with pytest.raises(RouteNotFound, match="'gone'"):
        find_route(chat("fast"), allow("gone"), SETTINGS)


def test_an_agent_call_goes_to_its_agent_and_the_policy_cannot_reroute_it():
    settings = Settings.model_validate({"agents": {"planner": {"url": "http://127.0.0.1:9200"}}})
    route = find_route(call(AgentPayload(agent="planner", operation="SendMessage")), allow("elsewhere"), settings)
    assert (route.alias, route.config.provider, route.config.model) == ("planner", "planner", "SendMessage")
    with pytest.raises(RouteNotFound, match="no agent 'ghost' on this gateway"):
        find_route(call(AgentPayload(agent="ghost")), allow(), settings)


def test_a_tool_call_to_an_unconfigured_mcp_server_is_refused_clearly():
    tool = ToolPayload(server="bank", call=ToolCall(id="1", name="transfer"))
    with pytest.raises(RouteNotFound, match="no MCP server 'bank' on this gateway"):
        find_route(call(tool), allow(), SETTINGS)
