# remits DEVELOPMENT attestation policy. Never loaded by default: select it explicitly.
# It accepts debug guests, any VMPL, any TCB and the (unsigned) sample TEE, so that a developer
# can exercise the whole flow. Evidence signatures and the runtime-data binding are still
# checked by the verifier before this policy runs (an unchecked binding, which a caller must ask
# for explicitly, is accepted here and recorded in the token); this policy only relaxes the
# appraisal.
package policy

import rego.v1

default executables := 33

default hardware := 97

default configuration := 2

# Any evidence that reached the policy was verified by its TEE driver (or is sample evidence,
# which the operator enabled explicitly).
hardware := 2 if count(tees) > 0

# Executables are affirming when a registered measurement matches, or when no measurement is
# registered at all (a fresh development setup); an unknown measurement is a warning (33).
executables := 3 if {
	some c in checks
	c.id == "identity"
	c.ok
}

trust_claims := {
	"executables": executables,
	"hardware": hardware,
	"configuration": configuration,
}

tees contains t if {
	some t in ["snp", "az-snp-vtpm", "tpm", "sample", "sev"]
	input[t]
}

rv(name) := v if {
	v := query_reference_value(name)
	is_array(v)
} else := []

# The identity claim of each TEE and the reference value it is looked up in.
ident(t) := ["snp_launch_measurement", object.get(input.snp, "measurement", null)] if t == "snp"

ident(t) := ["measurement", object.get(input["az-snp-vtpm"], "measurement", null)] if t == "az-snp-vtpm"

ident(t) := ["tpm_pcr11", object.get(input.tpm, "pcr11", null)] if t == "tpm"

ident(t) := ["launch_digest", object.get(input.sample, "launch_digest", null)] if t == "sample"

ident(t) := ["sev_launch_digest", object.get(input.sev, "launch_digest", null)] if t == "sev"

default identity_ok := false

identity_ok if {
	some t in tees
	[name, _] := ident(t)
	count(rv(name)) == 0
}

identity_ok if {
	some t in tees
	[name, value] := ident(t)
	value in rv(name)
}

checks contains c if {
	count(tees) > 0
	c := {
		"id": "identity", "category": "executables", "claim": "measurement / pcr11 / launch_digest",
		"actual": [v | some t in tees; [_, v] := ident(t)],
		"expected": "a registered value (or none registered)", "ok": identity_ok,
	}
}

checks contains c if {
	some t in tees
	c := {
		"id": sprintf("%s.verified", [t]), "category": "hardware", "claim": t,
		"actual": "verified", "expected": "verified", "ok": true,
	}
}
