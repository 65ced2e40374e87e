# Tests of the allow-lists example: `gateway policy test docs/examples/allow-lists`
# (embedded engine) or `opa test docs/examples/allow-lists`.
#
# regopy-safe style (see policies/gateway/decision_test.rego): the input is replaced field by field, values
# come from functions (not rules), and expected reasons are built with concat, not sprintf.
package gateway_test

import rego.v1

import data.gateway

principal(name) := {"agent": name, "team": "cs", "key_id": "k1"}

model_call(target, phase, tools, tool_calls) := {
	"kind": "model", "phase": phase, "surface": "openai", "target": target,
	"tools": tools, "tool_calls": tool_calls,
}

mcp_call(name) := {
	"kind": "tool", "phase": "request", "surface": "mcp", "target": name, "tools": [],
	"tool_calls": [{"id": "1", "name": name, "arguments": {}}],
}

tool_call(name) := {"id": "call_1", "name": name, "arguments": {}}

test_listed_model_and_tools_are_allowed if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("gpt-4o-mini", "request", ["search_kb", "get_order_status"], [])
	d.allow
	d.reasons == []
	d.hold == null
	d.redact == []
	d.route == null
}

test_unlisted_model_is_denied if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("gpt-4o", "request", [], [])
	not d.allow
	d.reasons == ["agent 'support-bot' may not use model 'gpt-4o'"]
}

embeddings_call(target) := {
	"kind": "embeddings", "phase": "request", "surface": "openai", "target": target, "tools": [], "tool_calls": [],
}

test_embeddings_follow_the_model_list if {
	allowed := gateway.decision with input.principal as principal("support-bot")
		with input.call as embeddings_call("gpt-4o-mini")
	allowed.allow
	denied := gateway.decision with input.principal as principal("support-bot")
		with input.call as embeddings_call("gpt-4o")
	denied.reasons == ["agent 'support-bot' may not use model 'gpt-4o'"]
}

test_unlisted_agent_is_denied if {
	d := gateway.decision with input.principal as principal("intern-bot")
		with input.call as model_call("echo", "request", [], [])
	not d.allow
	d.reasons == ["agent 'intern-bot' has no allow-list"]
}

test_offering_an_unlisted_tool_is_denied if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("echo", "request", ["search_kb", "transfer_funds"], [])
	not d.allow
	d.reasons == ["agent 'support-bot' may not offer tool 'transfer_funds'"]
}

test_model_asking_for_an_unlisted_tool_is_denied if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("echo", "response", [], [tool_call("transfer_funds")])
	not d.allow
	d.reasons == ["agent 'support-bot' may not call tool 'transfer_funds'"]
}

test_model_asking_for_a_listed_tool_is_allowed if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("echo", "response", ["get_order_status"], [tool_call("get_order_status")])
	d.allow
}

test_mcp_call_of_a_listed_tool_is_allowed if {
	d := gateway.decision with input.principal as principal("billing-bot")
		with input.call as mcp_call("get_invoice")
	d.allow
}

test_mcp_call_of_an_unlisted_tool_is_denied if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as mcp_call("get_invoice")
	not d.allow
	d.reasons == ["agent 'support-bot' may not call tool 'get_invoice'"]
}

test_every_reason_is_reported_in_order if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("gpt-4o", "response", ["shell"], [tool_call("shell")])
	d.reasons == [
		"agent 'support-bot' may not call tool 'shell'",
		"agent 'support-bot' may not offer tool 'shell'",
		"agent 'support-bot' may not use model 'gpt-4o'",
	]
}

test_lists_come_from_data if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("gpt-4o", "request", [], [])
		with data.agents as {"support-bot": {"models": ["gpt-4o"], "tools": []}}
	d.allow
}

test_missing_agent_is_denied if {
	d := gateway.decision with input.principal as principal("")
		with input.call as model_call("echo", "request", [], [])
	not d.allow
	d.reasons == ["caller has no agent identity"]
}
