# remits default resource policy: release a resource only to a token whose every submodule is
# affirming, and never to sample (unsigned) evidence.
package policy

import rego.v1

default allow := false

allow if {
	count(input.submods) > 0
	every _, sub in input.submods {
		sub["ear.status"] == "affirming"
		not sub["ear.veraison.annotated-evidence"].sample
	}
}

deny_reasons contains msg if {
	some name, sub in input.submods
	sub["ear.status"] != "affirming"
	msg := sprintf("submod %s: ear.status is %v, expected affirming", [name, sub["ear.status"]])
}

deny_reasons contains msg if {
	some name, sub in input.submods
	sub["ear.veraison.annotated-evidence"].sample
	msg := sprintf("submod %s: sample evidence is never released resources", [name])
}

deny_reasons contains "the token has no submodules" if count(object.get(input, "submods", {})) == 0
