# Worked example: after a tool result carried PII, nothing goes to an external tool in that session.
#
# input.session summarises what the gateway saw earlier in the call's session (the X-Gateway-Session header,
# the MCP session, the A2A contextId, a Responses conversation; always within the calling agent). Once any
# earlier tool result of the session held PII (an entry of input.session.pii with source "tool_result"), a
# call of a tool listed in data.session_memory.external_tools (data.json beside this file) is denied: what
# the agent learnt from an internal tool must not leave through an external one. Other sessions, and the same tools before any PII
# came back, are not affected. Only the request phase is checked: that is when the call would go out.
package gateway

import rego.v1

decision := {
	"allow": count(deny) == 0,
	"reasons": sort([r | some r in deny]), # sorted here: regopy iterates a set in rule order, OPA sorted
	"hold": null,
	"redact": [],
	"route": null,
}

deny contains "caller has no agent identity" if not has_agent

has_agent if {
	is_string(input.principal.agent)
	input.principal.agent != ""
}

deny contains concat("", [
	"this session received PII from a tool (", concat(", ", tool_pii_types), "); '", input.call.target,
	"' is an external tool",
]) if {
	input.call.phase == "request"
	input.call.kind == "tool"
	input.call.target in data.session_memory.external_tools
	count(tool_pii_types) > 0
}

# The PII types earlier tool results of this session carried, sorted (empty outside a session).
tool_pii_types := sort([t | some t in {p.type | some p in session_pii; p.source == "tool_result"}])

session_pii := input.session.pii if is_object(input.session)

default session_pii := []
