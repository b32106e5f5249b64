# remits production attestation policy (strict). See docs/policy.md for a line-by-line walk.
#
# Output contract (trustee's EAR conventions):
#   trust_claims  AR4SI integers; the token status is the worst tier among them.
#   checks        one object per check: {id, category, claim, actual, expected, ok}.
#   deny_reasons  one human sentence per failed check.
# A trust claim is affirming only when its category has at least one check and every check
# in it passed; anything missing fails closed.
package policy

import rego.v1

# ---------------------------------------------------------------- result
default executables := 96

default hardware := 97

default configuration := 96

executables := 3 if category_ok("executables")

hardware := 2 if category_ok("hardware")

configuration := 2 if category_ok("configuration")

trust_claims := {
	"executables": executables,
	"hardware": hardware,
	"configuration": configuration,
}

category_ok(cat) if {
	some c in checks
	c.category == cat
	not category_failed(cat)
}

category_failed(cat) if {
	some c in checks
	c.category == cat
	not c.ok
}

deny_reasons contains msg if {
	some c in checks
	not c.ok
	msg := sprintf("%s: %s is %v, expected %v", [c.id, c.claim, c.actual, c.expected])
}

# ---------------------------------------------------------------- helpers
check(id, cat, claim, actual, expected, ok) := {
	"id": id, "category": cat, "claim": claim,
	"actual": actual, "expected": expected, "ok": ok,
}

# Reference values for a name, or [] when none are registered (never undefined).
rv(name) := v if {
	v := query_reference_value(name)
	is_array(v)
} else := []

# A claim, or null when absent (so a missing claim is reported, not silently skipped).
claim(obj, name) := object.get(obj, name, null)

# Numbers may arrive as strings (az-snp-vtpm claims are strings in trustee's form).
num(x) := x if is_number(x)

num(x) := to_number(x) if is_string(x)

# The minimum TCB object for a generation: reference value "snp_min_tcb_<generation>",
# e.g. {"snp_min_tcb_milan": [{"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115}]}.
min_tcb(gen) := m if {
	some m in rv(sprintf("snp_min_tcb_%s", [gen]))
	is_object(m)
} else := null

tcb_ok(actual, gen, part) := true if {
	m := min_tcb(gen)
	num(actual) >= m[part]
} else := false

# The TCB components a generation's minimum must cover: Turin adds the FMC SPL.
tcb_parts(gen) := ["bootloader", "tee", "snp", "microcode", "fmc"] if gen == "turin"

else := ["bootloader", "tee", "snp", "microcode"]

tcb_checks(prefix, obj, gen) := {c |
	some part in tcb_parts(gen)
	actual := claim(obj, sprintf("reported_tcb_%s", [part]))
	m := min_tcb(gen)
	m != null
	expected := object.get({"m": m}, ["m", part], null)
	ok := tcb_ok(actual, gen, part)
	c := check(
		sprintf("%s.tcb_%s", [prefix, part]), "hardware",
		sprintf("%s.reported_tcb_%s", [prefix, part]), actual,
		sprintf(">= %v (snp_min_tcb_%v)", [expected, gen]), ok,
	)
}

# trustee's RVPS names for the SNP TCB, read exactly as trustee's default policy reads them:
# once any of them is registered, each reported component must be one of the listed values
# (a component without values fails).
trustee_tcb_names := {
	"bootloader": "snp_bootloader",
	"tee": "snp_tee_svn",
	"snp": "snp_snp_svn",
	"microcode": "snp_microcode",
}

has_trustee_tcb if {
	some name in trustee_tcb_names
	count(rv(name)) > 0
}

# Membership with numbers and numeric strings compared by value (RVPS values may be strings).
num_in(x, values) := true if {
	some v in values
	num(v) == num(x)
} else := false

trustee_tcb_checks(prefix, obj) := {c |
	has_trustee_tcb
	some part, name in trustee_tcb_names
	actual := claim(obj, sprintf("reported_tcb_%s", [part]))
	c := check(
		sprintf("%s.tcb_%s_reference", [prefix, part]), "hardware",
		sprintf("%s.reported_tcb_%s", [prefix, part]), actual,
		sprintf("in %s %v", [name, rv(name)]), num_in(actual, rv(name)),
	)
}

# The evidence must be bound to this request (runtime data or explicit report data): an
# unchecked binding may be a replay and never affirms in production.
# SEV pre-launch has no report data: its freshness is the launch session (single use, with
# expiry) whose TIK MACs the measurement, recorded by the broker as kind "sev-launch". That kind
# counts only for SEV claims.
# (A function, not a rule set: it is false, never undefined, so the check always exists.)
binding_ok(kind) := true if {
	kind in {"runtime-data", "report-data"}
} else := true if {
	input.sev
	kind == "sev-launch"
} else := false

checks contains c if {
	kind := object.get(input, ["remits_binding", "kind"], null)
	expected := "runtime-data or report-data (sev-launch for SEV pre-launch)"
	c := check("binding.report_data", "configuration", "remits_binding.kind", kind,
		expected, binding_ok(kind))
}

# A signer PCR (PCR16: the measurement-manifest signer) is trusted when it is listed in
# tpm_trusted_signer. An all-zero PCR16 means "nothing was measured" and never counts.
signer_ok(pcr16) if {
	pcr16 != concat("", [x | some _ in numbers.range(1, 64); x := "0"])
	pcr16 in rv("tpm_trusted_signer")
}

# ---------------------------------------------------------------- snp
default snp_identity_ok := false

snp_identity_ok if input.snp.measurement in rv("snp_launch_measurement")

snp_identity_ok if {
	input.snp.id_key_digest in rv("snp_trusted_signer")
	count(rv("snp_enclave_id")) == 0
}

snp_identity_ok if {
	input.snp.id_key_digest in rv("snp_trusted_signer")
	input.snp.image_id in rv("snp_enclave_id")
}

checks contains c if {
	some c in tcb_checks("snp", input.snp, input.snp.generation)
}

checks contains c if {
	some c in trustee_tcb_checks("snp", input.snp)
}

checks contains c if {
	input.snp
	min_tcb(claim(input.snp, "generation")) == null
	not has_trustee_tcb
	c := check("snp.tcb_minimum", "hardware", "snp.generation", claim(input.snp, "generation"),
		"a snp_min_tcb_<generation> reference value (or trustee's snp_bootloader, snp_tee_svn, snp_snp_svn, snp_microcode)", false)
}

# AMD's root, or an extra root the operator explicitly marked for production: a simulator or
# development root verifies, but never affirms here.
checks contains c if {
	input.snp
	v := claim(input.snp, "production_root")
	c := check("snp.root", "hardware", "snp.production_root", v, true, v == true)
}

checks contains c if {
	v := claim(input.snp, "policy_debug_allowed")
	c := check("snp.debug", "configuration", "snp.policy_debug_allowed", v, false, v == false)
}

checks contains c if {
	v := claim(input.snp, "policy_migrate_ma")
	c := check("snp.migration_agent", "configuration", "snp.policy_migrate_ma", v, false, v == false)
}

checks contains c if {
	v := claim(input.snp, "vmpl")
	c := check("snp.vmpl", "configuration", "snp.vmpl", v, 0, v == 0)
}

checks contains c if {
	input.snp
	c := check(
		"snp.identity", "executables", "snp.measurement | snp.id_key_digest",
		claim(input.snp, "measurement"),
		"in snp_launch_measurement, or id_key_digest in snp_trusted_signer", snp_identity_ok,
	)
}

# ---------------------------------------------------------------- az-snp-vtpm
az := input["az-snp-vtpm"]

default az_identity_ok := false

# Azure's paravisor/firmware measurement, and the workload in the vTPM PCRs.
az_identity_ok if {
	az.measurement in rv("measurement")
	az_workload_ok
}

az_workload_ok if az.tpm.pcr11 in rv("snp_pcr11")

az_workload_ok if az.enclave_id in rv("enclave_id")

az_workload_ok if signer_ok(az.tpm.pcr16)

checks contains c if {
	some c in tcb_checks("az-snp-vtpm", az, az.generation)
}

checks contains c if {
	az
	min_tcb(claim(az, "generation")) == null
	c := check("az-snp-vtpm.tcb_minimum", "hardware", "az-snp-vtpm.generation",
		claim(az, "generation"), "a snp_min_tcb_<generation> reference value", false)
}

checks contains c if {
	az
	v := claim(az, "production_root")
	c := check("az-snp-vtpm.root", "hardware", "az-snp-vtpm.production_root", v, "true", v == "true")
}

checks contains c if {
	v := claim(az, "policy_debug_allowed")
	c := check("az-snp-vtpm.debug", "configuration", "az-snp-vtpm.policy_debug_allowed", v,
		"false", v == "false")
}

checks contains c if {
	v := claim(az, "policy_migrate_ma")
	c := check("az-snp-vtpm.migration_agent", "configuration", "az-snp-vtpm.policy_migrate_ma",
		v, "false", v == "false")
}

checks contains c if {
	v := claim(az, "vmpl")
	c := check("az-snp-vtpm.vmpl", "configuration", "az-snp-vtpm.vmpl", v, "0", v == "0")
}

checks contains c if {
	az
	c := check(
		"az-snp-vtpm.identity", "executables",
		"az-snp-vtpm.measurement & (tpm.pcr11 | enclave_id | tpm.pcr16)",
		{
			"measurement": claim(az, "measurement"),
			"pcr11": object.get(az, ["tpm", "pcr11"], null),
			"enclave_id": claim(az, "enclave_id"),
			"pcr16": object.get(az, ["tpm", "pcr16"], null),
		},
		"measurement in measurement, and pcr11 in snp_pcr11 or enclave_id in enclave_id or pcr16 in tpm_trusted_signer",
		az_identity_ok,
	)
}

# ---------------------------------------------------------------- tpm
default tpm_identity_ok := false

tpm_identity_ok if input.tpm.pcr11 in rv("tpm_pcr11")

tpm_identity_ok if input.tpm.enclave_id in rv("enclave_id")

tpm_identity_ok if signer_ok(input.tpm.pcr16)

# The AK is trusted when the verifier matched it (as a key) against trusted_aks, or when its
# base64 SPKI is listed verbatim (trustee's convention).
default tpm_ak_ok := false

tpm_ak_ok if input.tpm.ak_trusted == true

tpm_ak_ok if input.tpm.ak_public in rv("trusted_aks")

checks contains c if {
	input.tpm
	c := check("tpm.ak", "hardware", "tpm.ak_public", claim(input.tpm, "ak_public"),
		"in trusted_aks", tpm_ak_ok)
}

checks contains c if {
	input.tpm
	c := check(
		"tpm.identity", "executables", "tpm.pcr11 | tpm.enclave_id | tpm.pcr16",
		{
			"pcr11": claim(input.tpm, "pcr11"),
			"enclave_id": claim(input.tpm, "enclave_id"),
			"pcr16": claim(input.tpm, "pcr16"),
		},
		"pcr11 in tpm_pcr11, or enclave_id in enclave_id, or pcr16 in tpm_trusted_signer",
		tpm_identity_ok,
	)
}

checks contains c if {
	input.tpm
	c := check("tpm.configuration", "configuration", "tpm", "quote verified", "quote verified", true)
}

# ---------------------------------------------------------------- sample
# The sample TEE proves nothing; production refuses it outright.
checks contains c if {
	input.sample
	c := check("sample.refused", "hardware", "sample", "sample TEE",
		"a hardware TEE (sample evidence is unsigned)", false)
}

# ---------------------------------------------------------------- sev (pre-launch)
# Claims from the broker's SEV launch check (docs/sev-prelaunch.md): the launch measurement was
# already recomputed with the session's TIK over the registered digest before this runs.
sev := input.sev

# AMD's roots (never the simulator's).
checks contains c if {
	sev
	v := claim(sev, "production_root")
	c := check("sev.root", "hardware", "sev.production_root", v, true, v == true)
}

# The platform firmware (API version) is at least the workload's registered minimum.
sev_fw_ok if {
	num(sev.api_major) > num(sev.min_api_major)
}

sev_fw_ok if {
	num(sev.api_major) == num(sev.min_api_major)
	num(sev.api_minor) >= num(sev.min_api_minor)
}

default sev_fw_ok := false

checks contains c if {
	sev
	c := check(
		"sev.firmware", "hardware", "sev.api_major.api_minor",
		sprintf("%v.%v", [claim(sev, "api_major"), claim(sev, "api_minor")]),
		sprintf(">= %v.%v", [claim(sev, "min_api_major"), claim(sev, "min_api_minor")]),
		sev_fw_ok,
	)
}

# Guest policy: no debugging (the hypervisor could read and write guest memory in clear), no key
# sharing with other guests, SEV-ES (register state encrypted), no sending to another platform.
checks contains c if {
	v := claim(sev, "policy_debug_allowed")
	c := check("sev.debug", "configuration", "sev.policy_debug_allowed", v, false, v == false)
}

checks contains c if {
	v := claim(sev, "policy_key_sharing_allowed")
	c := check("sev.key_sharing", "configuration", "sev.policy_key_sharing_allowed", v, false,
		v == false)
}

checks contains c if {
	v := claim(sev, "policy_es")
	c := check("sev.es", "configuration", "sev.policy_es", v, true, v == true)
}

checks contains c if {
	v := claim(sev, "policy_send_allowed")
	c := check("sev.send", "configuration", "sev.policy_send_allowed", v, false, v == false)
}

checks contains c if {
	sev
	v := claim(sev, "launch_digest")
	c := check("sev.identity", "executables", "sev.launch_digest", v, "in sev_launch_digest",
		v in rv("sev_launch_digest"))
}
