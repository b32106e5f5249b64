//! Table-driven tests over the real SNP vectors with the shipped policies.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use remits_evidence::binding::RuntimeData;
use remits_evidence::clock::FixedClock;
use remits_evidence::initdata::InitData;
use remits_evidence::TeeKind;
use remits_policy::{shipped, EarStatus, PolicyEngine};
use remits_store::MemoryStore;
use remits_verify::drivers::snp_trustee::encode_report;
use remits_verify::{
    AttestationRequest, AttestationService, Binding, Error, PolicyChoice, ServiceConfig,
};
use serde_json::{json, Value};

fn td(rel: &str) -> Option<PathBuf> {
    remits_testsupport::testdata::dir().map(|d| d.join(rel))
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// remits envelope for a report + leaf certificate.
fn envelope(report: &str, leaf: &str, leaf_type: &str) -> Option<Value> {
    let r = std::fs::read(td(report)?).unwrap();
    let c = std::fs::read(td(leaf)?).unwrap();
    Some(json!({"report": b64(&r), "cert_chain": [{"cert_type": leaf_type, "data": b64(&c)}]}))
}

/// Bind to the report's own REPORT_DATA (as an operator who chose that nonce would).
fn own_report_data(ev: &Value) -> Binding {
    let (report, _) = remits_verify::drivers::snp::parse_evidence(ev).unwrap();
    Binding::ReportData(report[0x50..0x90].to_vec())
}

fn at(rfc3339: &str) -> SystemTime {
    let t = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .unwrap();
    UNIX_EPOCH + Duration::from_secs(t.unix_timestamp() as u64)
}

async fn service(time: &str, policy: PolicyChoice, rv: Value) -> AttestationService {
    let cfg = ServiceConfig {
        attestation_policy: policy,
        ..ServiceConfig::default()
    };
    let svc = AttestationService::with_signing_key(
        cfg,
        Arc::new(MemoryStore::new()),
        Arc::new(FixedClock(at(time))),
        p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap(),
    )
    .await
    .unwrap();
    svc.register_reference_values(rv.to_string().as_bytes())
        .await
        .unwrap();
    svc
}

const MILAN_SEV_MEAS: &str = "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f";
const MILAN_TRUSTEE_MEAS: &str = "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c";
const MILAN_TRUSTEE_IDKEY: &str = "0356215882a825279a85b300b0b742931d113bf7e32dde2e50ffde7ec743ca491ecdd7f336dc28a6e0b2bb57af7a44a3";
const MILAN_VLEK_MEAS: &str = "8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7bf0";
const GENOA_MEAS: &str = "6a6519d757e68c2e939c9dbbbc1828498e8de35d2766dd05f1a2cca5059d0cf4ae62a36d75c837974dd50b315506e73e";
const UNBOUND: &str = "unbound";
const TRUSTEE_RD32: &str = "ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e2";

fn rv(measurements: &[&str]) -> Value {
    json!({
        "snp_launch_measurement": measurements,
        "snp_min_tcb_milan": [{"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115}],
        "snp_min_tcb_genoa": [{"bootloader": 10, "tee": 0, "snp": 23, "microcode": 25}],
    })
}

/// What each row must yield.
enum Want {
    Affirming,
    /// Denied by the policy; the failed check ids, in order.
    Denied(&'static [&'static str]),
    /// Rejected before the policy: the error must be a binding mismatch on this field.
    Binding(&'static str),
    /// Rejected by evidence verification; the message must contain this.
    Rejected(&'static str),
}

struct Row {
    name: &'static str,
    evidence: Option<Value>,
    time: &'static str,
    rv: Value,
    /// Hex report data to bind; `None`: the report's own REPORT_DATA (what an operator who
    /// chose the nonce would give); `Some(UNBOUND)`: an explicitly unchecked binding.
    report_data: Option<&'static str>,
    init_data: Option<InitData>,
    want: Want,
}

#[tokio::test]
async fn snp_table() {
    let Some(genoa_trustee) = td("snp/genoa-v3-evidence.json") else {
        return;
    };
    let genoa_trustee: Value =
        serde_json::from_slice(&std::fs::read(genoa_trustee).unwrap()).unwrap();
    let sev = envelope(
        "snp/milan-v2-sev-report.bin",
        "snp/milan-v2-sev-vcek.der",
        "VCEK",
    );
    let trustee = envelope(
        "snp/milan-v2-trustee-report.bin",
        "snp/milan-v2-trustee-vcek.der",
        "VCEK",
    );
    let vlek = envelope("snp/milan-v3-vlek-report.bin", "snp/milan-vlek.der", "VLEK");
    let now = "2026-11-01T00:00:00Z";
    let mut high_tcb = rv(&[MILAN_SEV_MEAS]);
    high_tcb["snp_min_tcb_milan"] =
        json!([{"bootloader": 3, "tee": 0, "snp": 9, "microcode": 115}]);
    let mut signer_rv = rv(&[]);
    signer_rv["snp_trusted_signer"] = json!([MILAN_TRUSTEE_IDKEY]);
    let mut wrong_signer = rv(&[]);
    wrong_signer["snp_trusted_signer"] = json!(["00".repeat(48)]);
    let init = InitData {
        format: "toml".into(),
        body: "algorithm = \"sha384\"\nversion = \"0.1.0\"\n".into(),
    };
    let mut trustee_tcb = json!({
        "snp_launch_measurement": [GENOA_MEAS],
        "snp_bootloader": [10], "snp_tee_svn": [0], "snp_snp_svn": [23], "snp_microcode": [25],
    });
    let rows = vec![
        Row {
            name: "unbound evidence: denied by production",
            evidence: sev.clone(),
            time: now,
            rv: rv(&[MILAN_SEV_MEAS]),
            report_data: Some(UNBOUND),
            init_data: None,
            want: Want::Denied(&["binding.report_data"]),
        },
        Row {
            name: "genoa with trustee's RVPS TCB names: allowed",
            evidence: Some(genoa_trustee.clone()),
            time: now,
            rv: trustee_tcb.clone(),
            report_data: None,
            init_data: None,
            want: Want::Affirming,
        },
        Row {
            name: "genoa with a trustee TCB value it does not have: denied",
            evidence: Some(genoa_trustee.clone()),
            time: now,
            rv: {
                trustee_tcb["snp_snp_svn"] = json!([24]);
                trustee_tcb.clone()
            },
            report_data: None,
            init_data: None,
            want: Want::Denied(&["snp.tcb_snp_reference"]),
        },
        Row {
            name: "milan sev: allowed",
            evidence: sev.clone(),
            time: now,
            rv: rv(&[MILAN_SEV_MEAS]),
            report_data: None,
            init_data: None,
            want: Want::Affirming,
        },
        Row {
            name: "milan trustee: allowed with nonce",
            evidence: trustee.clone(),
            time: now,
            rv: rv(&[MILAN_TRUSTEE_MEAS]),
            report_data: Some(TRUSTEE_RD32),
            init_data: None,
            want: Want::Affirming,
        },
        Row {
            name: "genoa trustee form: allowed",
            evidence: Some(genoa_trustee.clone()),
            time: now,
            rv: rv(&[GENOA_MEAS]),
            report_data: None,
            init_data: None,
            want: Want::Affirming,
        },
        Row {
            name: "wrong measurement",
            evidence: sev.clone(),
            time: now,
            rv: rv(&[GENOA_MEAS]),
            report_data: None,
            init_data: None,
            want: Want::Denied(&["snp.identity"]),
        },
        Row {
            name: "TCB below minimum",
            evidence: sev.clone(),
            time: now,
            rv: high_tcb,
            report_data: None,
            init_data: None,
            want: Want::Denied(&["snp.tcb_snp"]),
        },
        Row {
            name: "no minimum TCB for genoa",
            evidence: Some(genoa_trustee.clone()),
            time: now,
            rv: json!({"snp_launch_measurement": [GENOA_MEAS]}),
            report_data: None,
            init_data: None,
            want: Want::Denied(&["snp.tcb_minimum"]),
        },
        Row {
            name: "VLEK report has VMPL 1",
            evidence: vlek.clone(),
            time: "2025-06-01T00:00:00Z",
            rv: json!({"snp_launch_measurement": [MILAN_VLEK_MEAS], "snp_min_tcb_milan": [{"bootloader": 4, "tee": 0, "snp": 24, "microcode": 217}]}),
            report_data: None,
            init_data: None,
            want: Want::Denied(&["snp.vmpl"]),
        },
        Row {
            name: "VLEK expired today",
            evidence: vlek,
            time: now,
            rv: rv(&[]),
            report_data: None,
            init_data: None,
            want: Want::Rejected("VLEK"),
        },
        Row {
            name: "trusted signer instead of measurement",
            evidence: trustee.clone(),
            time: now,
            rv: signer_rv,
            report_data: None,
            init_data: None,
            want: Want::Affirming,
        },
        Row {
            name: "untrusted signer",
            evidence: trustee.clone(),
            time: now,
            rv: wrong_signer,
            report_data: None,
            init_data: None,
            want: Want::Denied(&["snp.identity"]),
        },
        Row {
            name: "wrong nonce",
            evidence: trustee.clone(),
            time: now,
            rv: rv(&[MILAN_TRUSTEE_MEAS]),
            report_data: Some("00"),
            init_data: None,
            want: Want::Binding("report_data"),
        },
        Row {
            name: "init-data not in HOST_DATA",
            evidence: sev.clone(),
            time: now,
            rv: rv(&[MILAN_SEV_MEAS]),
            report_data: None,
            init_data: Some(init),
            want: Want::Binding("init_data"),
        },
    ];
    let total = rows.len();
    let mut ran = 0;
    for row in rows {
        let Some(ev) = row.evidence else { return };
        ran += 1;
        let svc = service(row.time, PolicyChoice::Production, row.rv).await;
        let binding = match row.report_data {
            Some(UNBOUND) => Binding::Unchecked,
            Some(h) => Binding::ReportData(hex::decode(h).unwrap()),
            None => own_report_data(&ev),
        };
        let res = svc
            .appraise("snp", &ev, &binding, row.init_data.as_ref())
            .await;
        match (row.want, res) {
            (Want::Affirming, Ok(a)) => {
                assert_eq!(
                    a.status,
                    EarStatus::Affirming,
                    "{}: {}",
                    row.name,
                    a.explanation
                );
                assert!(a.report_data_checked, "{}", row.name);
                assert_eq!(a.binding, "report-data", "{}", row.name);
                let claims = svc.verify_token(&a.token).unwrap();
                assert_eq!(
                    claims["submods"]["cpu0"]["ear.status"], "affirming",
                    "{}",
                    row.name
                );
                assert_eq!(
                    claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"]["snp"]["vmpl"],
                    0
                );
            }
            (Want::Denied(ids), Ok(a)) => {
                assert_ne!(a.status, EarStatus::Affirming, "{}", row.name);
                let failed: Vec<&str> = a.explanation.failed().map(|c| c.id.as_str()).collect();
                assert_eq!(failed, ids, "{}: {}", row.name, a.explanation);
                assert!(a.explanation.summary().contains(ids[0]), "{}", row.name);
            }
            (Want::Binding(what), Err(Error::Binding { what: w, .. })) => {
                assert_eq!(w, what, "{}", row.name)
            }
            (Want::Rejected(s), Err(e @ Error::EvidenceRejected { .. })) => {
                assert!(e.to_string().contains(s), "{}: {e}", row.name)
            }
            (_, other) => panic!("{}: unexpected {other:?}", row.name),
        }
    }
    assert_eq!(ran, total);
}

#[test]
fn trustee_form_reencodes_byte_exact() {
    let (Some(j), Some(b)) = (
        td("snp/genoa-v3-evidence.json"),
        td("snp/genoa-v3-report.bin"),
    ) else {
        return;
    };
    let v: Value = serde_json::from_slice(&std::fs::read(j).unwrap()).unwrap();
    let raw = encode_report(&v["attestation_report"]).unwrap();
    assert_eq!(raw, std::fs::read(b).unwrap());
    let mut bad = v["attestation_report"].clone();
    bad["surprise"] = json!(1);
    assert!(encode_report(&bad).is_err());
    let mut bad = v["attestation_report"].clone();
    bad["measurement"] = json!([1, 2, 3]);
    assert!(encode_report(&bad).is_err());
}

#[tokio::test]
async fn tampered_trustee_form_fails_signature() {
    let Some(j) = td("snp/genoa-v3-evidence.json") else {
        return;
    };
    let mut v: Value = serde_json::from_slice(&std::fs::read(j).unwrap()).unwrap();
    v["attestation_report"]["measurement"][0] = json!(0);
    let svc = service(
        "2026-11-01T00:00:00Z",
        PolicyChoice::Production,
        rv(&[GENOA_MEAS]),
    )
    .await;
    let err = svc
        .appraise("snp", &v, &Binding::Unchecked, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::EvidenceRejected { .. }), "{err}");
}

/// The debug bit is signed, and no real vector has it set: flip it in the verified claims and
/// run the production policy over them (the policy is what enforces it).
#[tokio::test]
async fn debug_guest_denied_by_production_allowed_by_development() {
    let Some(ev) = envelope(
        "snp/milan-v2-sev-report.bin",
        "snp/milan-v2-sev-vcek.der",
        "VCEK",
    ) else {
        return;
    };
    let svc = service(
        "2026-11-01T00:00:00Z",
        PolicyChoice::Production,
        rv(&[MILAN_SEV_MEAS]),
    )
    .await;
    let a = svc
        .appraise("snp", &ev, &own_report_data(&ev), None)
        .await
        .unwrap();
    let mut input = a.claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"].clone();
    assert_eq!(input["snp"]["policy_debug_allowed"], false);
    input["snp"]["policy_debug_allowed"] = json!(true);
    let engine = PolicyEngine::new();
    let rvs = Arc::new(svc.reference_values());
    let out = engine
        .evaluate_attestation(
            shipped::PRODUCTION_ID,
            shipped::PRODUCTION,
            &input,
            rvs.clone(),
        )
        .unwrap();
    assert_eq!(out.status, EarStatus::Contraindicated);
    let c = out.explanation.failed().next().unwrap();
    assert_eq!(
        (c.id.as_str(), &c.actual, &c.expected),
        ("snp.debug", &json!(true), &json!(false))
    );
    let dev = engine
        .evaluate_attestation(shipped::DEVELOPMENT_ID, shipped::DEVELOPMENT, &input, rvs)
        .unwrap();
    assert_eq!(dev.status, EarStatus::Affirming);
}

/// kbs.md worked vector, end to end through the sample TEE (enabled explicitly).
#[tokio::test]
async fn binding_worked_vector_sample() {
    let rd = RuntimeData {
        nonce: b64(&[0u8; 32]),
        tee_pubkey: json!({"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW",
            "x": "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY",
            "y": "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU", "kid": "extra"}),
        additional_evidence: String::new(),
    };
    let digest = hex::decode("bc18735746472713c97d2b881e0a178e1b09bb652fd2a3d5e7945e756c7f14496d7cc1a29bf74a6b3bfe248691e5f3b4").unwrap();
    let evidence = json!({"svn": "1", "report_data": b64(&digest)});
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(FixedClock(at("2026-11-01T00:00:00Z")));
    let key = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
    // Sample refused by default.
    let svc = AttestationService::with_signing_key(
        ServiceConfig::default(),
        store.clone(),
        clock.clone(),
        key.clone(),
    )
    .await
    .unwrap();
    let req = AttestationRequest {
        tee: TeeKind::Sample,
        evidence: evidence.clone(),
        binding: Binding::RuntimeData(rd.clone()),
        init_data: None,
    };
    assert!(matches!(
        svc.attest(req.clone()).await,
        Err(Error::TeeDisabled { .. })
    ));
    // Enabled, development policy: affirming, key in the token where the KBS looks.
    let cfg = ServiceConfig {
        allow_sample: true,
        attestation_policy: PolicyChoice::Development,
        ..Default::default()
    };
    let svc = AttestationService::with_signing_key(
        cfg.clone(),
        store.clone(),
        clock.clone(),
        key.clone(),
    )
    .await
    .unwrap();
    let a = svc.attest(req.clone()).await.unwrap();
    assert!(a.report_data_checked);
    let pk = remits_verify::token::tee_pubkey(&a.claims).unwrap();
    assert_eq!(pk.get("kid"), None);
    assert_eq!(pk["x"], "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY");
    // A different nonce does not bind.
    let mut other = rd.clone();
    other.nonce = b64(&[1u8; 32]);
    let req2 = AttestationRequest {
        binding: Binding::RuntimeData(other),
        ..req.clone()
    };
    assert!(matches!(
        svc.attest(req2).await,
        Err(Error::Binding {
            what: "report_data",
            ..
        })
    ));
    // Production policy refuses sample even when enabled.
    let cfg = ServiceConfig {
        allow_sample: true,
        ..Default::default()
    };
    let svc = AttestationService::with_signing_key(cfg, store, clock, key)
        .await
        .unwrap();
    match svc.attest(req).await {
        Err(Error::PolicyDenied(e)) => assert_eq!(e.failed().next().unwrap().id, "sample.refused"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn policy_change_takes_effect_and_resource_policy() {
    let Some(ev) = envelope(
        "snp/milan-v2-sev-report.bin",
        "snp/milan-v2-sev-vcek.der",
        "VCEK",
    ) else {
        return;
    };
    let svc = service(
        "2026-11-01T00:00:00Z",
        PolicyChoice::Production,
        rv(&[MILAN_SEV_MEAS]),
    )
    .await;
    let req = AttestationRequest {
        tee: TeeKind::Snp,
        binding: own_report_data(&ev),
        evidence: ev,
        init_data: None,
    };
    let a = svc.attest(req.clone()).await.unwrap();
    let d = svc.allow_resource(&a.claims, "repo/key/1").await.unwrap();
    assert!(d.allow);
    assert!(svc.allow_resource(&a.claims, "repo/key").await.is_err());
    svc.set_attestation_policy(
        "default",
        "package policy\nimport rego.v1\ntrust_claims := {\"hardware\": 97}\n",
    )
    .await
    .unwrap();
    assert!(matches!(svc.attest(req).await, Err(Error::PolicyDenied(_))));
    svc.set_resource_policy("package policy\nimport rego.v1\ndefault allow := false\n")
        .await
        .unwrap();
    assert!(
        !svc.allow_resource(&a.claims, "repo/key/1")
            .await
            .unwrap()
            .allow
    );
    assert!(svc.set_attestation_policy("x", "not rego {").await.is_err());
}

#[tokio::test]
async fn reference_values_expire() {
    let Some(ev) = envelope(
        "snp/milan-v2-sev-report.bin",
        "snp/milan-v2-sev-vcek.der",
        "VCEK",
    ) else {
        return;
    };
    let svc = service("2026-11-01T00:00:00Z", PolicyChoice::Production, rv(&[])).await;
    let expired = json!({"expires_at": "2026-10-01T00:00:00Z", "values": {"snp_launch_measurement": [MILAN_SEV_MEAS]}});
    svc.register_reference_values(expired.to_string().as_bytes())
        .await
        .unwrap();
    let a = svc
        .appraise("snp", &ev, &own_report_data(&ev), None)
        .await
        .unwrap();
    assert_eq!(a.explanation.failed().next().unwrap().id, "snp.identity");
    let live = json!({"expires_at": "2027-01-01T00:00:00Z", "values": {"snp_launch_measurement": [MILAN_SEV_MEAS]}});
    svc.register_reference_values(live.to_string().as_bytes())
        .await
        .unwrap();
    let a = svc
        .appraise("snp", &ev, &own_report_data(&ev), None)
        .await
        .unwrap();
    assert_eq!(a.status, EarStatus::Affirming, "{}", a.explanation);
}
