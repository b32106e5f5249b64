//! The shipped policies over claim sets shaped like the verifier's output.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
use std::sync::Arc;

use remits_policy::{shipped, EarStatus, PolicyEngine, ReferenceValues};
use serde_json::{json, Value};

/// The binding record the verifier adds to every input.
fn bound() -> Value {
    json!({"kind": "report-data", "report_data_checked": true, "init_data_checked": false})
}

fn snp_input() -> Value {
    json!({"snp": {
        "generation": "milan", "vmpl": 0, "policy_debug_allowed": false, "policy_migrate_ma": false,
        "policy_smt_allowed": true, "policy_abi_major": 0, "policy_abi_minor": 31,
        "reported_tcb_bootloader": 3, "reported_tcb_tee": 0, "reported_tcb_snp": 8,
        "reported_tcb_microcode": 115, "measurement": "aa11", "id_key_digest": "ee22",
        "image_id": "00", "report_data": "00", "amd_root": true, "production_root": true
    }, "remits_binding": bound()})
}

fn rvs() -> Arc<ReferenceValues> {
    Arc::new(
        ReferenceValues::from_json(
            br#"{"snp_launch_measurement":["aa11"],
                 "snp_min_tcb_milan":[{"bootloader":3,"tee":0,"snp":8,"microcode":115}]}"#,
        )
        .unwrap(),
    )
}

fn eval(input: &Value, rv: Arc<ReferenceValues>) -> remits_policy::AttestationOutcome {
    PolicyEngine::new()
        .evaluate_attestation(shipped::PRODUCTION_ID, shipped::PRODUCTION, input, rv)
        .unwrap()
}

#[test]
fn production_affirms_matching_snp() {
    let out = eval(&snp_input(), rvs());
    assert_eq!(out.status, EarStatus::Affirming, "{}", out.explanation);
    assert!(out.explanation.failed().next().is_none());
    assert_eq!(out.trust_vector.0["executables"], 3);
    assert_eq!(out.trust_vector.0["hardware"], 2);
    assert_eq!(out.trust_vector.0["configuration"], 2);
    assert!(out.explanation.checks.len() >= 8);
}

#[test]
fn production_denies_each_wrong_claim_with_its_check() {
    let table: &[(&str, Value, &str, &str)] = &[
        (
            "policy_debug_allowed",
            json!(true),
            "snp.debug",
            "configuration",
        ),
        ("vmpl", json!(1), "snp.vmpl", "configuration"),
        (
            "policy_migrate_ma",
            json!(true),
            "snp.migration_agent",
            "configuration",
        ),
        ("reported_tcb_snp", json!(7), "snp.tcb_snp", "hardware"),
        (
            "reported_tcb_bootloader",
            json!(2),
            "snp.tcb_bootloader",
            "hardware",
        ),
        ("measurement", json!("bb"), "snp.identity", "executables"),
        ("generation", json!("genoa"), "snp.tcb_minimum", "hardware"),
        ("production_root", json!(false), "snp.root", "hardware"),
    ];
    for (field, value, check, cat) in table {
        let mut input = snp_input();
        input["snp"][*field] = value.clone();
        let out = eval(&input, rvs());
        assert_eq!(
            out.status,
            EarStatus::Contraindicated,
            "{field}: {}",
            out.explanation
        );
        let failed: Vec<_> = out.explanation.failed().map(|c| c.id.as_str()).collect();
        assert_eq!(failed, vec![*check], "{field}");
        let c = out.explanation.failed().next().unwrap();
        assert_eq!(&c.category, cat);
        if *field != "generation" {
            assert_eq!(&c.actual, value, "{field}");
        }
        assert!(!out.explanation.reasons.is_empty());
        assert!(out.trust_vector.0[*cat] >= 96);
    }
}

#[test]
fn missing_claim_fails_closed() {
    let mut input = snp_input();
    input["snp"].as_object_mut().unwrap().remove("vmpl");
    let out = eval(&input, rvs());
    assert_eq!(out.status, EarStatus::Contraindicated);
    let c = out.explanation.failed().next().unwrap();
    assert_eq!(c.id, "snp.vmpl");
    assert_eq!(c.actual, Value::Null);
}

#[test]
fn no_reference_values_is_not_affirming() {
    let out = eval(&snp_input(), Arc::new(ReferenceValues::new()));
    assert_eq!(out.status, EarStatus::Contraindicated);
    let ids: Vec<_> = out.explanation.failed().map(|c| c.id.clone()).collect();
    assert!(ids.contains(&"snp.identity".to_string()));
    assert!(ids.contains(&"snp.tcb_minimum".to_string()));
}

#[test]
fn trusted_signer_instead_of_measurement() {
    let mut input = snp_input();
    input["snp"]["measurement"] = json!("unknown");
    let mut rv = (*rvs()).clone();
    rv.insert("snp_trusted_signer", [json!("ee22")]);
    let out = eval(&input, Arc::new(rv.clone()));
    assert_eq!(out.status, EarStatus::Affirming, "{}", out.explanation);
    // With an ENCLAVE ID list, the image id must be in it too.
    rv.insert("snp_enclave_id", [json!("01")]);
    let out = eval(&input, Arc::new(rv));
    assert_eq!(out.status, EarStatus::Contraindicated);
}

#[test]
fn production_refuses_sample_development_accepts_it() {
    let input = json!({"sample": {"svn": "1", "launch_digest": "abcde", "debug": false},
        "remits_binding": bound()});
    let out = eval(&input, rvs());
    assert_eq!(out.status, EarStatus::Contraindicated);
    assert_eq!(
        out.explanation.failed().next().unwrap().id,
        "sample.refused"
    );
    let dev = PolicyEngine::new()
        .evaluate_attestation(shipped::DEVELOPMENT_ID, shipped::DEVELOPMENT, &input, rvs())
        .unwrap();
    assert_eq!(dev.status, EarStatus::Affirming, "{}", dev.explanation);
    // A debug guest passes development.
    let mut dbg = snp_input();
    dbg["snp"]["policy_debug_allowed"] = json!(true);
    let dev = PolicyEngine::new()
        .evaluate_attestation(shipped::DEVELOPMENT_ID, shipped::DEVELOPMENT, &dbg, rvs())
        .unwrap();
    assert_eq!(dev.status, EarStatus::Affirming, "{}", dev.explanation);
}

#[test]
fn tpm_needs_trusted_ak_and_pcr11() {
    let input = json!({"tpm": {"ak_public": "AK", "pcr11": "11", "pcr16": "00"},
        "remits_binding": bound()});
    let rv = ReferenceValues::from_json(br#"{"trusted_aks":["AK"],"tpm_pcr11":["11"]}"#).unwrap();
    let out = eval(&input, Arc::new(rv));
    assert_eq!(out.status, EarStatus::Affirming, "{}", out.explanation);
    let rv =
        ReferenceValues::from_json(br#"{"trusted_aks":["OTHER"],"tpm_pcr11":["11"]}"#).unwrap();
    let out = eval(&input, Arc::new(rv));
    assert_eq!(out.explanation.failed().next().unwrap().id, "tpm.ak");
    assert_eq!(out.status, EarStatus::Contraindicated);
}

/// A policy written in trustee's default-policy conventions (typed SNP claims, RV lists).
const TRUSTEE_STYLE: &str = r#"
package policy
import rego.v1
default executables := 33
default hardware := 97
default configuration := 36
executables := 3 if {
	input.snp.measurement in query_reference_value("snp_launch_measurement")
}
hardware := 2 if {
	input.snp.reported_tcb_bootloader in query_reference_value("snp_bootloader")
	input.snp.reported_tcb_microcode in query_reference_value("snp_microcode")
	input.snp.reported_tcb_snp in query_reference_value("snp_snp_svn")
	input.snp.reported_tcb_tee in query_reference_value("snp_tee_svn")
}
configuration := 2 if {
	not input.snp.policy_debug_allowed
	not input.snp.policy_migrate_ma
	input.snp.policy_smt_allowed in query_reference_value("snp_smt_allowed")
}
trust_claims := {"executables": executables, "hardware": hardware, "configuration": configuration}
"#;

#[test]
fn trustee_conventions_work_unchanged() {
    let rv = ReferenceValues::from_json(
        br#"{"snp_launch_measurement":["aa11"],"snp_bootloader":[3],"snp_microcode":[115],
             "snp_snp_svn":[8],"snp_tee_svn":[0],"snp_smt_allowed":[true]}"#,
    )
    .unwrap();
    let engine = PolicyEngine::new();
    let out = engine
        .evaluate_attestation("trustee", TRUSTEE_STYLE, &snp_input(), Arc::new(rv.clone()))
        .unwrap();
    assert_eq!(out.status, EarStatus::Affirming, "{}", out.explanation);
    assert!(out.explanation.checks.is_empty());
    let mut input = snp_input();
    input["snp"]["measurement"] = json!("zz");
    let out = engine
        .evaluate_attestation("trustee", TRUSTEE_STYLE, &input, Arc::new(rv))
        .unwrap();
    assert_eq!(out.status, EarStatus::Warning);
    assert!(
        out.explanation.summary().contains("executables=33"),
        "{}",
        out.explanation.summary()
    );
}

/// An unchecked binding (the caller spelled it out) never affirms in production; the
/// development policy accepts it.
#[test]
fn production_denies_an_unchecked_binding() {
    for kind in [json!("unchecked"), Value::Null] {
        let mut input = snp_input();
        input["remits_binding"]["kind"] = kind.clone();
        let out = eval(&input, rvs());
        assert_eq!(out.status, EarStatus::Contraindicated, "{kind}");
        let failed: Vec<_> = out.explanation.failed().map(|c| c.id.as_str()).collect();
        assert_eq!(failed, ["binding.report_data"], "{kind}");
    }
    let mut input = snp_input();
    input["remits_binding"]["kind"] = json!("unchecked");
    let dev = PolicyEngine::new()
        .evaluate_attestation(shipped::DEVELOPMENT_ID, shipped::DEVELOPMENT, &input, rvs())
        .unwrap();
    assert_eq!(dev.status, EarStatus::Affirming, "{}", dev.explanation);
}

/// Turin's minimum TCB covers the FMC SPL too (it used to be ignored).
#[test]
fn turin_minimum_tcb_checks_fmc() {
    let mut input = snp_input();
    input["snp"]["generation"] = json!("turin");
    input["snp"]["reported_tcb_fmc"] = json!(2);
    let rv = |min: &str| {
        Arc::new(
            ReferenceValues::from_json(
                format!(r#"{{"snp_launch_measurement":["aa11"],"snp_min_tcb_turin":[{min}]}}"#)
                    .as_bytes(),
            )
            .unwrap(),
        )
    };
    let ok = eval(
        &input,
        rv(r#"{"bootloader":3,"tee":0,"snp":8,"microcode":115,"fmc":2}"#),
    );
    assert_eq!(ok.status, EarStatus::Affirming, "{}", ok.explanation);
    for min in [
        r#"{"bootloader":3,"tee":0,"snp":8,"microcode":115,"fmc":3}"#,
        r#"{"bootloader":3,"tee":0,"snp":8,"microcode":115}"#,
    ] {
        let out = eval(&input, rv(min));
        let failed: Vec<_> = out.explanation.failed().map(|c| c.id.as_str()).collect();
        assert_eq!(failed, ["snp.tcb_fmc"], "{min}");
    }
}

/// trustee's RVPS TCB names are honoured by the shipped production policy exactly as
/// trustee's default policy reads them (membership), beside `snp_min_tcb_<generation>`.
#[test]
fn production_honours_trustee_tcb_names() {
    let rv = |json: &str| Arc::new(ReferenceValues::from_json(json.as_bytes()).unwrap());
    let trustee_only = r#"{"snp_launch_measurement":["aa11"],"snp_bootloader":[3],
        "snp_tee_svn":[0],"snp_snp_svn":[8,9],"snp_microcode":["115"]}"#;
    let out = eval(&snp_input(), rv(trustee_only));
    assert_eq!(out.status, EarStatus::Affirming, "{}", out.explanation);
    // A value not listed is denied (before: silently ignored).
    let out = eval(
        &snp_input(),
        rv(
            r#"{"snp_launch_measurement":["aa11"],"snp_bootloader":[3],"snp_tee_svn":[0],
              "snp_snp_svn":[9],"snp_microcode":[115]}"#,
        ),
    );
    let failed: Vec<_> = out.explanation.failed().map(|c| c.id.as_str()).collect();
    assert_eq!(failed, ["snp.tcb_snp_reference"], "{}", out.explanation);
    // One name registered, another missing: the missing component fails (as in trustee).
    let out = eval(
        &snp_input(),
        rv(r#"{"snp_launch_measurement":["aa11"],"snp_bootloader":[3]}"#),
    );
    let mut failed: Vec<_> = out.explanation.failed().map(|c| c.id.as_str()).collect();
    failed.sort_unstable();
    assert_eq!(
        failed,
        [
            "snp.tcb_microcode_reference",
            "snp.tcb_snp_reference",
            "snp.tcb_tee_reference"
        ],
        "{}",
        out.explanation
    );
    // Both forms registered: both apply.
    let out = eval(
        &snp_input(),
        rv(
            r#"{"snp_launch_measurement":["aa11"],"snp_bootloader":[3],"snp_tee_svn":[0],
              "snp_snp_svn":[8],"snp_microcode":[115],
              "snp_min_tcb_milan":[{"bootloader":3,"tee":0,"snp":9,"microcode":115}]}"#,
        ),
    );
    let failed: Vec<_> = out.explanation.failed().map(|c| c.id.as_str()).collect();
    assert_eq!(failed, ["snp.tcb_snp"], "{}", out.explanation);
}

#[test]
fn cache_parses_once_and_picks_up_changes() {
    let engine = PolicyEngine::new();
    let a = "package policy\nimport rego.v1\ntrust_claims := {\"hardware\": 2}\n";
    let b = "package policy\nimport rego.v1\ntrust_claims := {\"hardware\": 97}\n";
    let rv = Arc::new(ReferenceValues::new());
    let o = engine
        .evaluate_attestation("p", a, &json!({}), rv.clone())
        .unwrap();
    assert_eq!(o.status, EarStatus::Affirming);
    let o = engine
        .evaluate_attestation("p", a, &json!({}), rv.clone())
        .unwrap();
    assert_eq!(o.status, EarStatus::Affirming);
    assert_eq!(engine.cached(), 1);
    let o = engine
        .evaluate_attestation("p", b, &json!({}), rv.clone())
        .unwrap();
    assert_eq!(o.status, EarStatus::Contraindicated);
    assert_eq!(engine.cached(), 1);
    assert!(engine
        .compile("bad", "package policy\nthis is not rego {")
        .is_err());
    let bad_out = "package policy\nimport rego.v1\ntrust_claims := {\"bogus\": 2}\n";
    assert!(engine
        .evaluate_attestation("o", bad_out, &json!({}), rv.clone())
        .is_err());
    let empty = "package policy\nimport rego.v1\nx := 1\n";
    assert!(engine
        .evaluate_attestation("e", empty, &json!({}), rv)
        .is_err());
}

#[test]
fn resource_policy_affirming() {
    let engine = PolicyEngine::new();
    let data = json!({"plugin": "resource", "resource-path": ["a", "b", "c"], "query": {}});
    let ok = json!({"submods": {"cpu0": {"ear.status": "affirming",
        "ear.veraison.annotated-evidence": {"snp": {}}}}});
    let d = engine
        .evaluate_resource(
            shipped::RESOURCE_AFFIRMING_ID,
            shipped::RESOURCE_AFFIRMING,
            &ok,
            &data,
        )
        .unwrap();
    assert!(d.allow);
    let warn = json!({"submods": {"cpu0": {"ear.status": "warning",
        "ear.veraison.annotated-evidence": {"tpm": {}}}}});
    let d = engine
        .evaluate_resource(
            shipped::RESOURCE_AFFIRMING_ID,
            shipped::RESOURCE_AFFIRMING,
            &warn,
            &data,
        )
        .unwrap();
    assert!(!d.allow);
    assert!(d.reasons[0].contains("warning"), "{:?}", d.reasons);
    let sample = json!({"submods": {"cpu0": {"ear.status": "affirming",
        "ear.veraison.annotated-evidence": {"sample": {"svn": "1"}}}}});
    let d = engine
        .evaluate_resource(
            shipped::RESOURCE_AFFIRMING_ID,
            shipped::RESOURCE_AFFIRMING,
            &sample,
            &data,
        )
        .unwrap();
    assert!(!d.allow);
    let d = engine
        .evaluate_resource(
            shipped::RESOURCE_AFFIRMING_ID,
            shipped::RESOURCE_AFFIRMING,
            &json!({}),
            &data,
        )
        .unwrap();
    assert!(!d.allow);
}

/// SEV pre-launch claims as the broker builds them after the measurement matched.
fn sev_input() -> Value {
    json!({"sev": {
        "workload_id": "w1", "launch_digest": "dd".repeat(32), "policy": 7,
        "policy_debug_allowed": false, "policy_key_sharing_allowed": false, "policy_es": true,
        "policy_send_allowed": false, "policy_domain": false, "policy_sev": false,
        "policy_api_major": 0, "policy_api_minor": 0,
        "api_major": 0, "api_minor": 24, "build": 15, "min_api_major": 0, "min_api_minor": 17,
        "production_root": true, "generation": "milan"
    }, "remits_binding": {"kind": "sev-launch", "report_data_checked": false, "init_data_checked": false}})
}

fn sev_rvs() -> Arc<ReferenceValues> {
    let text = format!(r#"{{"sev_launch_digest":["{}"]}}"#, "dd".repeat(32));
    Arc::new(ReferenceValues::from_json(text.as_bytes()).unwrap())
}

#[test]
fn production_affirms_a_strict_sev_launch() {
    let out = eval(&sev_input(), sev_rvs());
    assert_eq!(out.status, EarStatus::Affirming, "{}", out.explanation);
    let ids: Vec<_> = out
        .explanation
        .checks
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    for id in [
        "binding.report_data",
        "sev.root",
        "sev.firmware",
        "sev.debug",
        "sev.key_sharing",
        "sev.es",
        "sev.send",
        "sev.identity",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
}

#[test]
fn production_denies_each_weak_sev_claim_with_its_check() {
    let table: &[(&str, Value, &str)] = &[
        ("policy_debug_allowed", json!(true), "sev.debug"),
        ("policy_key_sharing_allowed", json!(true), "sev.key_sharing"),
        ("policy_es", json!(false), "sev.es"),
        ("policy_send_allowed", json!(true), "sev.send"),
        ("production_root", json!(false), "sev.root"),
        ("api_minor", json!(16), "sev.firmware"),
        ("launch_digest", json!("ee".repeat(32)), "sev.identity"),
    ];
    for (field, value, check) in table {
        let mut input = sev_input();
        input["sev"][*field] = value.clone();
        let out = eval(&input, sev_rvs());
        assert_ne!(out.status, EarStatus::Affirming, "{field}");
        let failed: Vec<_> = out.explanation.failed().map(|c| c.id.as_str()).collect();
        assert_eq!(failed, vec![*check], "{field}");
        assert!(
            out.explanation.reasons.iter().any(|r| r.starts_with(check)),
            "{:?}",
            out.explanation.reasons
        );
    }
    // A missing claim fails closed.
    let mut input = sev_input();
    input["sev"]
        .as_object_mut()
        .unwrap()
        .remove("policy_debug_allowed");
    assert_ne!(eval(&input, sev_rvs()).status, EarStatus::Affirming);
    // The "sev-launch" binding counts only for SEV claims: SNP evidence with it is refused.
    let mut snp = snp_input();
    snp["remits_binding"]["kind"] = json!("sev-launch");
    let out = eval(&snp, rvs());
    let failed: Vec<_> = out.explanation.failed().map(|c| c.id.as_str()).collect();
    assert_eq!(failed, vec!["binding.report_data"]);
}

#[test]
fn development_accepts_a_debug_sev_launch_with_a_registered_digest() {
    let mut input = sev_input();
    input["sev"]["policy_debug_allowed"] = json!(true);
    input["sev"]["production_root"] = json!(false);
    let dev = |input: &Value, rv| {
        PolicyEngine::new()
            .evaluate_attestation(shipped::DEVELOPMENT_ID, shipped::DEVELOPMENT, input, rv)
            .unwrap()
    };
    assert_eq!(dev(&input, sev_rvs()).status, EarStatus::Affirming);
    // An unregistered digest is not affirming, even in development.
    input["sev"]["launch_digest"] = json!("ee".repeat(32));
    assert_ne!(dev(&input, sev_rvs()).status, EarStatus::Affirming);
}
