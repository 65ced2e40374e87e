# Worked example: each agent may only use the models and tools listed for it.
#
# Data (data.json beside this file): data.agents.<agent>.models and data.agents.<agent>.tools.
# An agent with no entry may use nothing.
#
# Checked on both phases:
# - a model or embeddings call's target (the model alias the agent asks for) must be in the agent's
#   models; this also filters GET /v1/models, which asks the policy once per route (request phase, no tools)
# - every tool the agent offers the model (input.call.tools) must be in its tools, so the model is never
#   told about a tool the agent may not use
# - every tool call must be in its tools: on the response phase these are the calls the model asks for;
#   for an MCP `tools/call` (kind "tool") it is the call itself
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

allowed := data.agents[input.principal.agent]

deny contains concat("", ["agent '", input.principal.agent, "' has no allow-list"]) if {
	has_agent
	not listed
}

listed if allowed

deny contains concat("", ["agent '", input.principal.agent, "' may not use model '", input.call.target, "'"]) if {
	listed
	input.call.kind in {"model", "embeddings"}
	not model_allowed
}

model_allowed if input.call.target in allowed.models

deny contains concat("", ["agent '", input.principal.agent, "' may not offer tool '", name, "'"]) if {
	listed
	some name in input.call.tools
	not tool_allowed(name)
}

deny contains concat("", ["agent '", input.principal.agent, "' may not call tool '", call.name, "'"]) if {
	listed
	some call in input.call.tool_calls
	not tool_allowed(call.name)
}

tool_allowed(name) if name in allowed.tools
