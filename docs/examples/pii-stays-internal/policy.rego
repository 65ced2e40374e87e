# Worked example: PII must not leave for external providers.
#
# A call whose content holds PII (input.pii is not empty) is denied when the model alias it asks for is an
# external route (data.pii_routing.external_routes, in data.json beside this file). Routes to models the
# organisation runs itself are not listed and stay allowed.
#
# input.pii is filled by the PII inspection stage; this version of the gateway has none yet, so input.pii
# is always [] and this rule never fires until that stage lands. The tests below set input.pii by hand.
#
# Only the request phase is checked: that is when content leaves. On the response phase the content came
# back from the provider, so PII in it has not been sent anywhere by this call.
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
	"PII (", concat(", ", pii_types), ") must not be sent to external route '", input.call.target, "'",
]) if {
	input.call.phase == "request"
	count(input.pii) > 0
	input.call.target in data.pii_routing.external_routes
}

# The entity types found, without duplicates (a set), as a sorted array: regopy's sort of a set returns a set.
pii_types := sort([t | some t in {f.type | some f in input.pii}])
