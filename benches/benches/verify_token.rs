//! Evidence → EAR token through `AttestationService::appraise` (driver, binding, reference
//! values, the shipped production policy, ES256 signing and self-check), for a real SEV-SNP
//! report (Milan, VCEK) and real Azure SNP vTPM evidence (trustee v2). The policy is compiled
//! once and cached; the first call outside the timed loop warms it and the SNP chain cache.
//! Baselines: policy evaluation alone over the same claims, and token verification alone.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
// criterion_group! generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion};
use remits_evidence::clock::FixedClock;
use remits_policy::{shipped, EarStatus, PolicyEngine};
use remits_store::MemoryStore;
use remits_verify::{AttestationService, Binding, ServiceConfig};
use serde_json::{json, Value};

// 2026-11-01T00:00:00Z: inside every certificate's validity.
const NOW: u64 = 1_793_491_200;

struct Case {
    name: &'static str,
    tee: &'static str,
    evidence: Value,
    report_data: Vec<u8>,
    rv: Value,
}

fn cases() -> Option<Vec<Case>> {
    let d = remits_testsupport::testdata::dir()?;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let report = std::fs::read(d.join("snp/milan-v2-sev-report.bin")).ok()?;
    let vcek = std::fs::read(d.join("snp/milan-v2-sev-vcek.der")).ok()?;
    let snp = Case {
        name: "snp_milan",
        tee: "snp",
        evidence: json!({"report": b64(&report), "cert_chain": [{"cert_type": "VCEK", "data": b64(&vcek)}]}),
        report_data: report.get(0x50..0x90)?.to_vec(),
        rv: json!({
            "snp_launch_measurement": ["7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f"],
            "snp_min_tcb_milan": [{"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115}],
        }),
    };
    let exp: Value =
        serde_json::from_slice(&std::fs::read(d.join("az-snp-vtpm/expected.json")).ok()?).ok()?;
    let e = &exp["evidence-v2.json"];
    let meas = hex::decode(e["snp_report"]["measurement"].as_str()?).ok()?;
    let az = Case {
        name: "az_snp_vtpm_v2",
        tee: "az-snp-vtpm",
        evidence: serde_json::from_slice(
            &std::fs::read(d.join("az-snp-vtpm/evidence-v2.json")).ok()?,
        )
        .ok()?,
        report_data: hex::decode(e["nonce_hex"].as_str()?).ok()?,
        rv: json!({
            "measurement": [b64(&meas)],
            "snp_pcr11": [e["pcrs_sha256"]["11"]],
            "snp_min_tcb_milan": [{"bootloader": 4, "tee": 0, "snp": 24, "microcode": 219}],
        }),
    };
    Some(vec![snp, az])
}

fn bench(c: &mut Criterion) {
    let Some(cases) = cases() else {
        eprintln!("SKIPPED: verify_token needs ../shared/testdata");
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(NOW);
    let mut g = c.benchmark_group("verify_token");
    for case in &cases {
        let svc = rt.block_on(async {
            let svc = AttestationService::with_signing_key(
                ServiceConfig::default(),
                Arc::new(MemoryStore::new()),
                Arc::new(FixedClock(now)),
                p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap(),
            )
            .await
            .unwrap();
            svc.register_reference_values(case.rv.to_string().as_bytes())
                .await
                .unwrap();
            svc
        });
        let binding = Binding::ReportData(case.report_data.clone());
        let appraise = || {
            rt.block_on(svc.appraise(case.tee, &case.evidence, &binding, None))
                .unwrap()
        };
        // Warm the policy cache (and the SNP chain cache); the result must be affirming, or
        // the benchmark would measure a different path.
        let first = appraise();
        assert_eq!(first.status, EarStatus::Affirming, "{}", first.explanation);
        g.bench_function(format!("{}/evidence_to_token", case.name), |b| {
            b.iter(&appraise)
        });
        // Baseline: the cached production policy alone over the same annotated evidence.
        let input = first.claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"].clone();
        let engine = PolicyEngine::new();
        let rvs = Arc::new(svc.reference_values());
        engine
            .compile(shipped::PRODUCTION_ID, shipped::PRODUCTION)
            .unwrap();
        g.bench_function(format!("{}/policy_only", case.name), |b| {
            b.iter(|| {
                engine
                    .evaluate_attestation(
                        shipped::PRODUCTION_ID,
                        shipped::PRODUCTION,
                        &input,
                        rvs.clone(),
                    )
                    .unwrap()
            })
        });
        g.bench_function(format!("{}/token_verify", case.name), |b| {
            b.iter(|| svc.verify_token(&first.token).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
