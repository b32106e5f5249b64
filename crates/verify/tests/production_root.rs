//! Finding 6 of the trust-core review: with an extra root configured (the simulator's ARK),
//! the shipped production policy used to affirm simulator evidence. A root verifies evidence
//! only when configured; it is a *production* root only when the operator says so
//! (`snp_production_arks`); the production policy requires one (`snp.root`).
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
use std::sync::Arc;

use remits_evidence::clock::SystemClock;
use remits_policy::EarStatus;
use remits_store::MemoryStore;
use remits_verify::{AttestationService, Binding, PolicyChoice, ServiceConfig};
use serde_json::{json, Value};

async fn service(cfg: ServiceConfig) -> AttestationService {
    AttestationService::with_signing_key(
        cfg,
        Arc::new(MemoryStore::new()),
        Arc::new(SystemClock),
        p256::ecdsa::SigningKey::from_slice(&[5u8; 32]).unwrap(),
    )
    .await
    .unwrap()
}

/// Reference values matching the simulated report exactly (measurement, TCB).
fn matching_rv(snp: &Value) -> Value {
    let gen = snp["generation"].as_str().unwrap();
    json!({
        "snp_launch_measurement": [snp["measurement"]],
        format!("snp_min_tcb_{gen}"): [{
            "bootloader": snp["reported_tcb_bootloader"], "tee": snp["reported_tcb_tee"],
            "snp": snp["reported_tcb_snp"], "microcode": snp["reported_tcb_microcode"],
            "fmc": snp.get("reported_tcb_fmc").cloned().unwrap_or(json!(0)),
        }],
    })
}

#[tokio::test]
async fn simulator_root_is_not_a_production_root_unless_marked() {
    let tmp = tempfile::tempdir().unwrap();
    let chain = remits_sim::SimChain::generate(&mut rand::rngs::OsRng).unwrap();
    chain.write_to(tmp.path()).unwrap();
    let ark = tmp.path().join(remits_sim::files::ARK_DER);
    let sim = remits_sim::SimSnpAttester::new(chain);
    let nonce = [0x42u8; 64];
    let evidence = serde_json::to_value(sim.snp_evidence(&nonce).unwrap()).unwrap();
    let binding = Binding::ReportData(nonce.to_vec());

    // Not configured at all: the chain does not verify.
    let svc = service(ServiceConfig::default()).await;
    let err = svc
        .appraise("snp", &evidence, &binding, None)
        .await
        .unwrap_err();
    assert_eq!(err.check(), Some("snp.root"), "{err}");

    // An extra (development) root: verifies, but production denies it by name, even with
    // reference values that match everything else.
    let svc = service(ServiceConfig {
        snp_extra_arks: vec![ark.clone()],
        ..ServiceConfig::default()
    })
    .await;
    let a = svc
        .appraise("snp", &evidence, &binding, None)
        .await
        .unwrap();
    let snp = a.claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"]["snp"].clone();
    assert_eq!(
        (&snp["amd_root"], &snp["production_root"]),
        (&json!(false), &json!(false))
    );
    svc.register_reference_values(matching_rv(&snp).to_string().as_bytes())
        .await
        .unwrap();
    let a = svc
        .appraise("snp", &evidence, &binding, None)
        .await
        .unwrap();
    assert_ne!(a.status, EarStatus::Affirming);
    let failed: Vec<&str> = a.explanation.failed().map(|c| c.id.as_str()).collect();
    assert_eq!(failed, ["snp.root"], "{}", a.explanation);

    // The development policy still accepts it (that is what the simulator is for).
    let svc = service(ServiceConfig {
        snp_extra_arks: vec![ark.clone()],
        attestation_policy: PolicyChoice::Development,
        ..ServiceConfig::default()
    })
    .await;
    let a = svc
        .appraise("snp", &evidence, &binding, None)
        .await
        .unwrap();
    assert_eq!(a.status, EarStatus::Affirming, "{}", a.explanation);

    // Explicitly marked as a production root: affirming under production.
    let svc = service(ServiceConfig {
        snp_production_arks: vec![ark],
        ..ServiceConfig::default()
    })
    .await;
    svc.register_reference_values(matching_rv(&snp).to_string().as_bytes())
        .await
        .unwrap();
    let a = svc
        .appraise("snp", &evidence, &binding, None)
        .await
        .unwrap();
    assert_eq!(a.status, EarStatus::Affirming, "{}", a.explanation);
    let snp = &a.claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"]["snp"];
    assert_eq!(snp["production_root"], json!(true));
}
