# Worked example: finance tools need a human's approval above a threshold, and are refused above a limit.
#
# Data (data.json beside this file):
#   data.finance.tools           the finance tools
#   data.finance.approval_above  a call with arguments.amount above this is held for the "finance" approvers
#   data.finance.hard_limit      a call with arguments.amount above this is denied outright
#
# The calls checked are the ones about to run: on the response phase, the tool calls the model asks the
# agent to make; for an MCP `tools/call` (kind "tool"), the one call in input.call.tool_calls. On the
# request phase of a model call, input.call.tool_calls are calls that already ran (their results are being
# sent back), so holding them would be too late.
#
# A finance call whose arguments hold no numeric `amount` (including arguments that were not valid JSON,
# which arrive as a string) is denied: a rule that cannot read the amount must not let the call through.
#
# A held call waits in the approval queue for a reviewer of the "finance" group (`gateway reviewers add
# NAME --group finance`), who decides it at /ui/, with `gateway approvals approve|reject`, or by the API.
package gateway

import rego.v1

decision := {
	"allow": count(deny) == 0,
	"reasons": sort([r | some r in deny]), # sorted here: regopy iterates a set in rule order, OPA sorted
	"hold": hold,
	"redact": [],
	"route": null,
}

deny contains "caller has no agent identity" if not has_agent

has_agent if {
	is_string(input.principal.agent)
	input.principal.agent != ""
}

# The tool calls that will run if this decision allows them.
about_to_run if input.call.phase == "response"

about_to_run if input.call.kind == "tool"

finance_calls contains call if {
	about_to_run
	some call in input.call.tool_calls
	call.name in data.finance.tools
}

deny contains concat("", ["finance tool '", call.name, "' called without a numeric amount"]) if {
	some call in finance_calls
	not has_amount(call)
}

# A function, not `not is_number(call.arguments.amount)` inline: when the reference is undefined, OPA
# makes that whole expression undefined (the rule does not fire) while regopy treats the `not` as true.
has_amount(call) if is_number(call.arguments.amount)

deny contains concat("", [
	"finance tool '", call.name, "' amount is above the hard limit of ", format_int(data.finance.hard_limit, 10),
]) if {
	some call in finance_calls
	call.arguments.amount > data.finance.hard_limit
}

# Names of the finance calls that need approval, without duplicates, as a sorted array (regopy's sort of a
# set returns a set).
needs_approval := sort([name | some name in {call.name |
	some call in finance_calls
	call.arguments.amount > data.finance.approval_above
}])

default hold := null

hold := {
	"reason": concat("", [
		concat(", ", needs_approval), ": amount above the approval threshold of ",
		format_int(data.finance.approval_above, 10),
	]),
	"approvers": "finance",
} if count(needs_approval) > 0
