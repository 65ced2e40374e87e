# Tests of the pii-stays-internal example: `gateway policy test docs/examples/pii-stays-internal`
# (embedded engine) or `opa test docs/examples/pii-stays-internal`.
#
# regopy-safe style (see policies/gateway/decision_test.rego): the input is replaced field by field, values
# come from functions (not rules), and expected reasons are built with concat, not sprintf.
package gateway_test

import rego.v1

import data.gateway

principal(name) := {"agent": name, "team": "cs", "key_id": "k1"}

model_call(target, phase) := {
	"kind": "model", "phase": phase, "surface": "openai", "target": target, "tool_calls": [],
}

email(_) := [{"type": "EMAIL_ADDRESS", "count": 1, "max_score": 1.0}]

email_and_phone(_) := [
	{"type": "PHONE_NUMBER", "count": 2, "max_score": 0.75},
	{"type": "EMAIL_ADDRESS", "count": 1, "max_score": 1.0},
]

test_no_pii_to_an_external_route_is_allowed if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("gpt-4o", "request")
		with input.pii as []
	d.allow
	d.reasons == []
	d.hold == null
	d.redact == []
	d.route == null
}

test_pii_to_an_external_route_is_denied if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("gpt-4o", "request")
		with input.pii as email(0)
	not d.allow
	d.reasons == ["PII (EMAIL_ADDRESS) must not be sent to external route 'gpt-4o'"]
}

test_every_pii_type_is_named_in_sorted_order if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("claude-sonnet", "request")
		with input.pii as email_and_phone(0)
	not d.allow
	d.reasons == ["PII (EMAIL_ADDRESS, PHONE_NUMBER) must not be sent to external route 'claude-sonnet'"]
}

test_pii_to_an_internal_route_is_allowed if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("llama-onprem", "request")
		with input.pii as email(0)
	d.allow
}

test_pii_in_a_response_is_not_this_policys_concern if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("gpt-4o", "response")
		with input.pii as email(0)
	d.allow
}

test_the_external_list_comes_from_data if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("llama-onprem", "request")
		with input.pii as email(0)
		with data.pii_routing.external_routes as ["llama-onprem"]
	not d.allow
}

test_missing_agent_is_denied if {
	d := gateway.decision with input.principal as principal("")
		with input.call as model_call("llama-onprem", "request")
		with input.pii as []
	not d.allow
	d.reasons == ["caller has no agent identity"]
}
