# Tests of the session-pii-external example: `gateway policy test docs/examples/session-pii-external`
# (embedded engine) or `opa test docs/examples/session-pii-external`.
#
# regopy-safe style (see policies/gateway/decision_test.rego): the input is replaced field by field, values
# come from functions (not rules), and expected reasons are built with concat, not sprintf.
package gateway_test

import rego.v1

import data.gateway

principal(name) := {"agent": name, "team": "cs", "key_id": "k1"}

tool_call(target) := {"kind": "tool", "operation": "tools/call", "phase": "request", "surface": "mcp",
	"target": target, "server": "bank", "tool_calls": []}

session_with(pii) := {"named_by": "mcp", "new": false, "calls": 1, "denied": false, "held": false,
	"pii": pii, "targets": [{"kind": "tool", "target": "lookup_customer", "server": "bank", "count": 1}],
	"truncated": false}

email_from(source) := [{"type": "EMAIL_ADDRESS", "source": source, "count": 1}]

test_external_tool_after_pii_in_a_tool_result_is_denied if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as tool_call("send_email")
		with input.pii as []
		with input.session as session_with(email_from("tool_result"))
	not d.allow
	d.reasons == ["this session received PII from a tool (EMAIL_ADDRESS); 'send_email' is an external tool"]
}

test_internal_tool_after_pii_is_allowed if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as tool_call("lookup_customer")
		with input.pii as []
		with input.session as session_with(email_from("tool_result"))
	d.allow
}

test_external_tool_in_a_clean_session_is_allowed if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as tool_call("send_email")
		with input.pii as []
		with input.session as session_with([])
	d.allow
	d.reasons == []
}

test_pii_the_agent_sent_itself_does_not_count if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as tool_call("send_email")
		with input.pii as []
		with input.session as session_with(email_from("request"))
	d.allow
}

test_no_session_is_allowed if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as tool_call("send_email")
		with input.pii as []
		with input.session as null
	d.allow
}

test_no_agent_identity_is_denied if {
	d := gateway.decision with input.principal as principal("")
		with input.call as tool_call("add")
		with input.pii as []
		with input.session as null
	not d.allow
	d.reasons == ["caller has no agent identity"]
}
