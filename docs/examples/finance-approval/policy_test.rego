# Tests of the finance-approval example: `gateway policy test docs/examples/finance-approval`
# (embedded engine) or `opa test docs/examples/finance-approval`.
#
# regopy-safe style (see policies/gateway/decision_test.rego): the input is replaced field by field, values
# come from functions (not rules), and expected reasons are built with concat, not sprintf.
package gateway_test

import rego.v1

import data.gateway

principal(name) := {"agent": name, "team": "finance", "key_id": "k1"}

# A model response asking the agent to make these tool calls.
response(tool_calls) := {
	"kind": "model", "phase": "response", "surface": "openai", "target": "gpt-4o-mini", "tool_calls": tool_calls,
}

# A model request sending back the results of these (already executed) tool calls.
request(tool_calls) := {
	"kind": "model", "phase": "request", "surface": "openai", "target": "gpt-4o-mini", "tool_calls": tool_calls,
}

# An MCP tools/call: kind "tool", the target is the tool and tool_calls holds the one call.
mcp_call(name, arguments) := {
	"kind": "tool", "phase": "request", "surface": "mcp", "target": name,
	"tool_calls": [{"id": "1", "name": name, "arguments": arguments}],
}

transfer(amount) := [{"id": "call_1", "name": "transfer_funds", "arguments": {"amount": amount, "to": "DE02"}}]

test_small_transfer_is_allowed if {
	d := gateway.decision with input.principal as principal("billing-bot")
		with input.call as response(transfer(500))
	d.allow
	d.reasons == []
	d.hold == null
	d.redact == []
	d.route == null
}

test_amount_at_the_threshold_is_allowed if {
	d := gateway.decision with input.principal as principal("billing-bot")
		with input.call as response(transfer(1000))
	d.allow
	d.hold == null
}

test_transfer_above_the_threshold_is_held_for_finance if {
	d := gateway.decision with input.principal as principal("billing-bot")
		with input.call as response(transfer(5000))
	d.allow
	d.reasons == []
	d.hold == {"reason": "transfer_funds: amount above the approval threshold of 1000", "approvers": "finance"}
}

test_every_call_needing_approval_is_named_in_sorted_order if {
	calls := [
		{"id": "call_1", "name": "transfer_funds", "arguments": {"amount": 5000}},
		{"id": "call_2", "name": "pay_invoice", "arguments": {"amount": 2000}},
	]
	d := gateway.decision with input.principal as principal("billing-bot")
		with input.call as response(calls)
	d.allow
	d.hold.reason == "pay_invoice, transfer_funds: amount above the approval threshold of 1000"
}

test_transfer_above_the_hard_limit_is_denied if {
	d := gateway.decision with input.principal as principal("billing-bot")
		with input.call as response(transfer(25000))
	not d.allow
	d.reasons == ["finance tool 'transfer_funds' amount is above the hard limit of 10000"]
}

test_missing_amount_is_denied if {
	calls := [{"id": "call_1", "name": "send_wire", "arguments": {"to": "DE02"}}]
	d := gateway.decision with input.principal as principal("billing-bot")
		with input.call as response(calls)
	not d.allow
	d.reasons == ["finance tool 'send_wire' called without a numeric amount"]
}

test_arguments_that_were_not_json_are_denied if {
	calls := [{"id": "call_1", "name": "pay_invoice", "arguments": "{amount: 5000"}]
	d := gateway.decision with input.principal as principal("billing-bot")
		with input.call as response(calls)
	not d.allow
	d.reasons == ["finance tool 'pay_invoice' called without a numeric amount"]
}

test_other_tools_are_not_checked if {
	calls := [{"id": "call_1", "name": "get_weather", "arguments": {"amount": 99999}}]
	d := gateway.decision with input.principal as principal("billing-bot")
		with input.call as response(calls)
	d.allow
	d.hold == null
}

test_results_of_calls_that_already_ran_are_not_held if {
	d := gateway.decision with input.principal as principal("billing-bot")
		with input.call as request(transfer(5000))
	d.allow
	d.hold == null
}

test_mcp_tool_call_above_the_threshold_is_held if {
	d := gateway.decision with input.principal as principal("billing-bot")
		with input.call as mcp_call("send_wire", {"amount": 2500})
	d.allow
	d.hold.approvers == "finance"
}

test_thresholds_come_from_data if {
	d := gateway.decision with input.principal as principal("billing-bot")
		with input.call as response(transfer(500))
		with data.finance.approval_above as 100
	d.hold == {"reason": "transfer_funds: amount above the approval threshold of 100", "approvers": "finance"}
}

test_missing_agent_is_denied if {
	d := gateway.decision with input.principal as principal("")
		with input.call as response([])
	not d.allow
	d.reasons == ["caller has no agent identity"]
}
