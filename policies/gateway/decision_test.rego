# Tests of the default policy: `gateway policy test` (or `opa test policies/`).
#
# The input is replaced field by field (`with input.call as ...`) rather than whole (`with input as ...`):
# the embedded engine (regopy 1.5.2) crashes on `with input as <object>` when the rule calls a builtin.
package gateway_test

import rego.v1

import data.gateway

# Values are built by functions, not rules: regopy 1.5.2 yields undefined for `with ... as <rule ref>`.
principal(name) := {"agent": name, "team": "cs", "key_id": "k1"}

routes(_) := ["echo", "gpt-4o-mini"]

model_call(target, phase, tool_calls) := {
	"kind": "model", "phase": phase, "surface": "openai", "target": target, "tool_calls": tool_calls,
}

test_known_agent_on_a_route_is_allowed if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("echo", "request", [])
		with input.routes as routes(0)
	d.allow
	d.reasons == []
	d.hold == null
	d.redact == []
	d.route == null
}

test_everything_is_denied_while_the_data_is_not_loaded if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("echo", "request", [])
		with input.routes as routes(0)
		with data.gateway.risky_tools as null
	not d.allow
	d.reasons == ["the policy's data (data.gateway in data.json) is not loaded"]
}

test_missing_agent_is_denied if {
	d := gateway.decision with input.principal as principal("")
		with input.call as model_call("echo", "request", [])
		with input.routes as routes(0)
	not d.allow
	d.reasons == ["caller has no agent identity"]
}

test_blocked_agent_is_denied if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("echo", "request", [])
		with input.routes as routes(0)
		with data.gateway.blocked_agents as ["support-bot"]
	not d.allow
	d.reasons == ["agent 'support-bot' is blocked"]
}

test_unknown_route_is_denied if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("gpt-9", "request", [])
		with input.routes as routes(0)
	not d.allow
	d.reasons == ["model 'gpt-9' is not a configured route"]
}

test_risky_tool_call_in_response_is_denied if {
	calls := [{"name": "transfer_funds", "arguments": {"amount": 5000}}]
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("echo", "response", calls)
		with input.routes as routes(0)
	not d.allow
	d.reasons == ["tool 'transfer_funds' is on the risky tools list"]
}

test_harmless_tool_call_is_allowed if {
	calls := [{"name": "get_weather", "arguments": {"city": "Paris"}}]
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("echo", "response", calls)
		with input.routes as routes(0)
	d.allow
}

test_every_reason_is_reported_in_order if {
	d := gateway.decision with input.principal as principal("")
		with input.call as model_call("nope", "request", [])
		with input.routes as routes(0)
	d.reasons == ["caller has no agent identity", "model 'nope' is not a configured route"]
}

embeddings_call(target) := {
	"kind": "embeddings", "operation": "embeddings", "phase": "request", "surface": "openai", "target": target,
	"tool_calls": [],
}

test_embeddings_on_an_unknown_model_are_denied if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as embeddings_call("nope")
		with input.routes as routes(0)
	not d.allow
	d.reasons == ["model 'nope' is not a configured route"]
}

tool_call(name) := {
	"kind": "tool", "operation": "tools/call", "phase": "request", "surface": "mcp", "target": name,
	"server": "bank", "tool_calls": [{"id": "1", "name": name, "arguments": {}}],
}

test_a_tool_call_is_not_checked_against_model_routes if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as tool_call("get_balance")
		with input.routes as routes(0)
	d.allow
}

# a function, not a rule: regopy 1.5.2 yields undefined for `with ... as <rule ref>`
pii_found(_) := [
	{"type": "EMAIL_ADDRESS", "count": 2, "max_score": 1.0, "where": ["user"]},
	{"type": "AWS_ACCESS_KEY", "count": 1, "max_score": 0.95, "where": ["tool_result"]},
]

external_call(phase) := {
	"kind": "model", "phase": phase, "surface": "openai", "target": "gpt-4o-mini", "tool_calls": [], "internal": false,
}

internal_call(_) := {
	"kind": "model", "phase": "request", "surface": "openai", "target": "gpt-4o-mini", "tool_calls": [], "internal": true,
}

test_pii_going_to_an_external_route_is_redacted_every_type if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as external_call("request")
		with input.routes as routes(0)
		with input.pii as pii_found(0)
	d.allow
	d.redact == ["AWS_ACCESS_KEY", "EMAIL_ADDRESS"]
}

test_web_addresses_are_reported_but_not_redacted_by_default if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as external_call("request")
		with input.routes as routes(0)
		with input.pii as array.concat(pii_found(0), [{"type": "URL", "count": 3, "max_score": 0.5, "where": ["system"]}])
	d.allow
	d.redact == ["AWS_ACCESS_KEY", "EMAIL_ADDRESS"]
}

test_pii_going_to_an_internal_route_is_left_as_it_is if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as internal_call(0)
		with input.routes as routes(0)
		with input.pii as pii_found(0)
	d.allow
	d.redact == []
}

test_what_the_model_emits_is_redacted_of_every_type_but_web_addresses if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as internal_call(0)
		with input.routes as routes(0)
		with input.redactable as ["EMAIL_ADDRESS", "URL", "US_SSN"]
	d.allow
	d.redact == []
	d.redact_output == ["EMAIL_ADDRESS", "US_SSN"]
}

test_nothing_is_redacted_on_the_response_phase if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as external_call("response")
		with input.routes as routes(0)
		with input.pii as pii_found(0)
	d.redact == []
}

test_a_call_too_large_to_inspect_is_denied if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as external_call("request")
		with input.routes as routes(0)
		with input.pii_truncated as true
	not d.allow
	d.reasons == ["the call holds more text than the gateway inspects for PII (pii.max_chars)"]
}

hosted_call(names) := {
	"kind": "model", "phase": "request", "surface": "openai", "target": "echo", "tool_calls": [],
	"operation": "responses", "hosted_tools": names,
}

allowed_hosted(_) := ["web_search"]

test_hosted_tools_are_allowed_by_none_by_default if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as hosted_call(["web_search", "code_interpreter"])
		with input.routes as routes(0)
	d.allow
	d.hosted_tools == []
}

test_hosted_tools_listed_in_data_are_named_in_the_decision if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as hosted_call(["code_interpreter", "web_search"])
		with input.routes as routes(0)
		with data.gateway.allowed_hosted_tools as allowed_hosted(0)
	d.hosted_tools == ["web_search"]
}

test_a_call_without_hosted_tools_names_none if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("echo", "request", [])
		with input.routes as routes(0)
	d.hosted_tools == []
}

# prompt injection: consequential tool calls after untrusted content that reads like instructions are held
injected(score) := {"score": score, "where": ["messages[2]"], "signals": ["instruction"]}

clean(_) := {"score": 0.12, "where": [], "signals": []}

session_after(flagged) := {
	"named_by": "mcp", "new": false, "calls": 2, "denied": false, "held": false, "pii": [], "targets": [],
	"injection": {"score": 0.91, "flagged": flagged, "signals": ["instruction"]},
}

send_email(_) := [{"id": "c1", "name": "send_email", "arguments": {"to": "x@example.com"}}]

test_a_consequential_tool_call_after_injected_content_is_held if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("echo", "response", send_email(0))
		with input.routes as routes(0)
		with input.injection as injected(0.93)
	d.allow
	d.hold.reason == "tool 'send_email' asked for after untrusted content read like instructions to the model (injection score 0.93)"
}

test_the_same_call_without_injected_content_goes_on if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("echo", "response", send_email(0))
		with input.routes as routes(0)
		with input.injection as clean(0)
	d.allow
	d.hold == null
}

test_a_harmless_tool_call_after_injected_content_goes_on if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("echo", "response", [{"id": "c1", "name": "get_weather", "arguments": {}}])
		with input.routes as routes(0)
		with input.injection as injected(0.93)
	d.hold == null
}

test_an_mcp_tool_call_after_injected_content_earlier_in_the_session_is_held if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as tool_call("send_email")
		with input.routes as routes(0)
		with input.injection as clean(0)
		with input.session as session_after(true)
	d.allow
	d.hold.reason == "tool 'send_email' asked for after untrusted content read like instructions to the model (injection score 0.91)"
}

test_an_mcp_tool_call_in_a_session_whose_content_was_not_flagged_goes_on if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as tool_call("send_email")
		with input.routes as routes(0)
		with input.injection as clean(0)
		with input.session as session_after(false)
	d.hold == null
}

test_the_tool_calls_a_request_reports_back_on_are_not_held if {
	# they ran already: the request brings their results (which may be what scored)
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("echo", "request", send_email(0))
		with input.routes as routes(0)
		with input.injection as injected(0.93)
	d.hold == null
}

test_no_tool_is_consequential_when_data_json_has_no_list if {
	d := gateway.decision with input.principal as principal("support-bot")
		with input.call as model_call("echo", "response", send_email(0))
		with input.routes as routes(0)
		with input.injection as injected(0.93)
		with data.gateway.consequential_tools as null
	d.allow
	d.hold == null
}
