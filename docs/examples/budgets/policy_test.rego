# Tests of the budgets example: `gateway policy test docs/examples/budgets` (embedded engine) or
# `opa test docs/examples/budgets`.
package gateway_test

import rego.v1

import data.gateway

principal := {"agent": "research-bot", "team": "research", "key_id": "k1"}

model_call(target) := {"kind": "model", "phase": "request", "surface": "openai", "target": target, "tool_calls": []}

usage(max_spend, remaining) := {
	"call": {"input_tokens": 1200, "max_output_tokens": 4096, "max_spend_usd": max_spend},
	"limits": [{
		"name": "team=research", "subject": "team=research", "match": {"team": "research"},
		"spend_usd": {"per": "month", "max": 500, "used": 500 - remaining, "reserved": 0, "remaining": remaining},
	}],
}

test_a_cheap_call_with_budget_left_goes_as_asked if {
	d := gateway.decision with input.principal as principal
		with input.call as model_call("gpt-4o")
		with input.usage as usage(0.02, 400)
	d.allow
	d.hold == null
	d.route == null
}

test_an_expensive_call_is_held_for_the_budget_approvers if {
	d := gateway.decision with input.principal as principal
		with input.call as model_call("gpt-4o")
		with input.usage as usage(1.75, 400)
	d.allow
	d.hold.approvers == "budget"
	d.hold.reason == "this call may cost up to $1.75, above the $0.50 a call may spend unreviewed"
}

test_a_budget_running_low_routes_to_the_cheaper_model if {
	d := gateway.decision with input.principal as principal
		with input.call as model_call("gpt-4o")
		with input.usage as usage(0.02, 12)
	d.allow
	d.route == "gpt-4o-mini"
}

test_a_model_without_a_cheaper_one_is_left_alone if {
	d := gateway.decision with input.principal as principal
		with input.call as model_call("claude")
		with input.usage as usage(0.02, 12)
	d.route == null
}

test_no_usage_no_steering if {
	d := gateway.decision with input.principal as principal
		with input.call as model_call("gpt-4o")
		with input.usage as null
	d.allow
	d.hold == null
	d.route == null
}
