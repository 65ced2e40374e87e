# Worked example: budgets that steer, not only stop. Limits in the config (`limits:`) refuse a call that would
# pass them; this policy acts before that, on `input.usage` (docs/policy-input.md, "usage").
#
# Data (data.json beside this file):
#   data.budgets.hold_above_usd  a call that may cost more than this (its input estimate and its max_tokens,
#                                priced) is held for the "budget" approvers
#   data.budgets.low_fraction    when a money limit of the caller has less than this share of its maximum left,
#   data.budgets.cheaper         a model alias listed here is routed to its cheaper alias instead
#
# `input.usage` is null when no limit or price applies to the call; then nothing here fires.
package gateway

import rego.v1

decision := {
	"allow": count(deny) == 0,
	"reasons": sort([r | some r in deny]),
	"hold": hold,
	"redact": [],
	"route": route,
}

deny contains "caller has no agent identity" if not has_agent

has_agent if {
	is_string(input.principal.agent)
	input.principal.agent != ""
}

# Only the request phase decides what is spent: the response phase sees the same input.usage.
spending if {
	input.call.phase == "request"
	input.call.kind == "model"
}

default hold := null

hold := {
	"reason": concat("", [
		"this call may cost up to $", format_cents(input.usage.call.max_spend_usd),
		", above the $", format_cents(data.budgets.hold_above_usd), " a call may spend unreviewed",
	]),
	"approvers": "budget",
} if {
	spending
	input.usage.call.max_spend_usd > data.budgets.hold_above_usd
}

# Dollars and cents, by integer arithmetic: a whole-number amount can reach an engine as an integer, which its
# sprintf("%.2f") would not format as a float.
format_cents(usd) := concat(".", [format_int(dollars, 10), two_digits(cents - dollars * 100)]) if {
	cents := round(usd * 100)
	dollars := floor(cents / 100)
}

two_digits(n) := concat("", ["0", format_int(n, 10)]) if n < 10

two_digits(n) := format_int(n, 10) if n >= 10

# The caller's money limits with less than `low_fraction` of their maximum left.
low contains limit.name if {
	some limit in input.usage.limits
	limit.spend_usd.remaining < limit.spend_usd.max * data.budgets.low_fraction
}

default route := null

route := data.budgets.cheaper[input.call.target] if {
	spending
	count(low) > 0
}
