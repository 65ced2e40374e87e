# The default gateway policy.
#
# The gateway asks for data.gateway.decision once before forwarding a call (phase "request") and once on
# what comes back (phase "response", where input.call.tool_calls are the calls the model wants the agent
# to make). Input and output are documented in docs/policy-input.md.
#
# - only callers with an agent identity, and not on the blocked list, are allowed
# - only model aliases the gateway routes (input.routes) may be called (chat and embeddings)
# - tools on the risky list (data.gateway.risky_tools, in data.json beside this file) are denied
# - hosted tools (Responses API) only when data.gateway.allowed_hosted_tools names them (none by default)
# - PII and secrets found in a call to a route whose providers are not all marked `internal: true` are
#   redacted before the call leaves (every type found but those in data.gateway.unredacted_types: web addresses,
#   which name organisations and documents far more often than people); a call too large to inspect whole is
#   denied
# - personal data and secrets the model emits that the caller did not send are taken out of what comes back
#   (every type the gateway redacts but data.gateway.unredacted_types); the caller's own values come back as sent
#   (not on reads of what the gateway kept, which was governed when it was first answered, nor on listings)
# - after untrusted content read like instructions to the model (input.injection this call, or
#   input.session.injection earlier in its session: a tool result, an MCP result, another agent's answer), the
#   tool calls the model asks for that act on the world (data.gateway.consequential_tools: sending, paying,
#   deleting, fetching URLs) are held for a reviewer; everything else goes on, with the score in the audit event
# - nothing is allowed while the lists of data.json are not loaded (an OPA server that lost its data)
package gateway

import rego.v1

decision := {
	"allow": count(deny) == 0,
	"reasons": sort([r | some r in deny]), # regopy and OPA iterate sets in different orders
	"hold": hold,
	"redact": redact,
	"route": null,
	"hosted_tools": hosted_tools,
	"redact_output": redact_output,
}

default hold := null

hold := {
	"reason": concat("", [
		"tool '", sort(consequential_calls)[0], "' asked for after untrusted content read like instructions to the model",
		" (injection score ", format_number(injection_score), ")",
	]),
	"approvers": null,
} if {
	count(consequential_calls) > 0
	injected
}

# a list data.json may leave out (a copy from before it existed): then no tool is consequential
consequential_calls contains call.name if {
	about_to_act
	some call in input.call.tool_calls
	call.name in data.gateway.consequential_tools
}

# the calls a model asks for (its answer), and a call the agent makes (an MCP tools/call); not the calls of a
# chat's last assistant turn, which ran already (their results are what the request brings)
about_to_act if {
	input.call.kind == "model"
	input.call.phase == "response"
}

about_to_act if {
	input.call.kind == "tool"
	input.call.phase == "request"
}

injected if count(input.injection.where) > 0 # this call's untrusted content, at or above guards.injection.threshold

injected if input.session.injection.flagged # earlier in its session

injection_score := max([this_score, session_score])

default this_score := 0

this_score := input.injection.score

default session_score := 0

session_score := input.session.injection.score

format_number(x) := sprintf("%.2f", [x])

default redact_output := []

redact_output := sort([t | some t in input.redactable; not t in data.gateway.unredacted_types]) if {
	input.call.phase == "request"
	not input.call.kind in {"read", "list"} # what a read returns was governed when it was first answered
}

# Hosted tools of the Responses API (web_search, code_interpreter, mcp:<server_label>, ...) run at the provider,
# where the gateway cannot govern their calls: a call offering one goes ahead only if the decision names it.
# The default allows those listed in data.gateway.allowed_hosted_tools (none as shipped).
hosted_tools := sort([name |
	some name in input.call.hosted_tools
	name in data.gateway.allowed_hosted_tools
])

default redact := []

redact := sort([t | some t in {f.type | some f in input.pii}; not t in data.gateway.unredacted_types]) if {
	input.call.phase == "request"
	not input.call.internal
}

deny contains "the call holds more text than the gateway inspects for PII (pii.max_chars)" if input.pii_truncated

# An engine that lost the lists in data.json (an OPA server whose data was deleted, or started from the modules
# alone) would otherwise allow what they forbid.
deny contains "the policy's data (data.gateway in data.json) is not loaded" if not data_loaded

data_loaded if {
	is_array(data.gateway.risky_tools)
	is_array(data.gateway.blocked_agents)
	is_array(data.gateway.allowed_hosted_tools)
	is_array(data.gateway.unredacted_types)
}

deny contains "caller has no agent identity" if not has_agent

has_agent if {
	is_string(input.principal.agent)
	input.principal.agent != ""
}

deny contains concat("", ["agent '", input.principal.agent, "' is blocked"]) if {
	input.principal.agent in data.gateway.blocked_agents
}

deny contains concat("", ["model '", input.call.target, "' is not a configured route"]) if {
	input.call.kind in {"model", "embeddings"}
	not known_route
}

known_route if input.call.target in input.routes

deny contains concat("", ["tool '", call.name, "' is on the risky tools list"]) if {
	some call in input.call.tool_calls
	call.name in data.gateway.risky_tools
}
