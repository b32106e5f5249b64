//! Table-driven tests over the real Azure SNP vTPM captures (trustee evidence v0/v1/v2) and the
//! real Azure vTPM quote in trustee's `tpm` form, through the one `AttestationService` entry point
//! with the shipped policies. Expected values come from the testdata's `expected.json`
//! (independently verified), never from the code under test.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
// The tables are tuples on purpose: one row per line reads best.
#![allow(clippy::type_complexity)]
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use remits_evidence::binding::RuntimeData;
use remits_evidence::clock::FixedClock;
use remits_evidence::initdata::InitData;
use remits_policy::{shipped, EarStatus, PolicyEngine};
use remits_store::MemoryStore;
use remits_verify::{AttestationService, Attested, Binding, Error, ServiceConfig};
use serde_json::{json, Value};

const NOW: &str = "2026-11-01T00:00:00Z";

/// The binding for an optional expected nonce: none given means explicitly unchecked.
fn bind(nonce: Option<Vec<u8>>) -> Binding {
    nonce.map(Binding::ReportData).unwrap_or(Binding::Unchecked)
}

fn td(rel: &str) -> Option<PathBuf> {
    remits_testsupport::testdata::dir().map(|d| d.join(rel))
}

fn read_json(p: PathBuf) -> Value {
    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn at(rfc3339: &str) -> SystemTime {
    let t = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .unwrap();
    UNIX_EPOCH + Duration::from_secs(t.unix_timestamp() as u64)
}

async fn service(cfg: ServiceConfig, rv: &Value) -> AttestationService {
    let svc = AttestationService::with_signing_key(
        cfg,
        Arc::new(MemoryStore::new()),
        Arc::new(FixedClock(at(NOW))),
        p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap(),
    )
    .await
    .unwrap();
    svc.register_reference_values(rv.to_string().as_bytes())
        .await
        .unwrap();
    svc
}

/// ENCLAVE ID v1 of the expected PCRs (remits-measure's definition).
fn enclave_id(pcrs: &Value) -> String {
    let m: BTreeMap<u32, [u8; 32]> = pcrs
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let b: [u8; 32] = hex::decode(v.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap();
            (k.parse().unwrap(), b)
        })
        .collect();
    hex::encode(remits_manifest::enclave_id::enclave_id_v1(&m).unwrap())
}

enum Want {
    Affirming,
    /// Denied by the policy: the failed check ids, in order.
    Denied(&'static [&'static str]),
    /// Rejected before the policy with a binding mismatch on this field.
    Binding(&'static str),
    /// Rejected by evidence verification; the message contains this.
    Rejected(&'static str),
}

fn judge(name: &str, svc: &AttestationService, want: &Want, res: Result<Attested, Error>) {
    match (want, res) {
        (Want::Affirming, Ok(a)) => {
            assert_eq!(a.status, EarStatus::Affirming, "{name}: {}", a.explanation);
            let claims = svc.verify_token(&a.token).unwrap();
            assert_eq!(
                claims["submods"]["cpu0"]["ear.status"], "affirming",
                "{name}"
            );
        }
        (Want::Denied(ids), Ok(a)) => {
            assert_ne!(a.status, EarStatus::Affirming, "{name}");
            let failed: Vec<&str> = a.explanation.failed().map(|c| c.id.as_str()).collect();
            assert_eq!(&failed, ids, "{name}: {}", a.explanation);
            assert!(a.explanation.summary().contains(ids[0]), "{name}");
            let claims = svc.verify_token(&a.token).unwrap();
            assert_ne!(
                claims["submods"]["cpu0"]["ear.status"], "affirming",
                "{name}"
            );
        }
        (Want::Binding(what), Err(Error::Binding { what: w, .. })) => {
            assert_eq!(w, *what, "{name}")
        }
        (Want::Rejected(s), Err(e @ Error::EvidenceRejected { .. })) => {
            assert!(e.to_string().contains(s), "{name}: {e}")
        }
        (_, other) => panic!("{name}: unexpected {other:?}"),
    }
}

struct AzCase {
    file: &'static str,
    evidence: Value,
    nonce: Vec<u8>,
    measurement_b64: String,
    pcrs: Value,
}

fn az_cases() -> Option<Vec<AzCase>> {
    let expected = read_json(td("az-snp-vtpm/expected.json")?);
    let mut out = Vec::new();
    for file in ["evidence-v0.json", "evidence-v1.json", "evidence-v2.json"] {
        let e = &expected[file];
        assert_eq!(e["expected_result"], "accept");
        out.push(AzCase {
            file,
            evidence: read_json(td(&format!("az-snp-vtpm/{file}"))?),
            nonce: hex::decode(e["nonce_hex"].as_str().unwrap()).unwrap(),
            measurement_b64: b64(
                &hex::decode(e["snp_report"]["measurement"].as_str().unwrap()).unwrap(),
            ),
            pcrs: e["pcrs_sha256"].clone(),
        });
    }
    Some(out)
}

fn az_rv(c: &AzCase) -> Value {
    json!({
        "measurement": [c.measurement_b64],
        "snp_pcr11": [c.pcrs["11"]],
        "snp_min_tcb_milan": [{"bootloader": 4, "tee": 0, "snp": 24, "microcode": 219}],
    })
}

#[tokio::test]
async fn az_snp_vtpm_table() {
    let Some(cases) = az_cases() else { return };
    let init = InitData {
        format: "toml".into(),
        body: "algorithm = \"sha256\"\nversion = \"0.1.0\"\n".into(),
    };
    let mut ran = 0;
    for c in &cases {
        let good = az_rv(c);
        let mut wrong_meas = good.clone();
        wrong_meas["measurement"] = json!([b64(&[0u8; 48])]);
        let mut wrong_pcr11 = good.clone();
        wrong_pcr11["snp_pcr11"] = json!(["11".repeat(32)]);
        let mut high_tcb = good.clone();
        high_tcb["snp_min_tcb_milan"] =
            json!([{"bootloader": 4, "tee": 0, "snp": 25, "microcode": 219}]);
        let mut by_enclave_id = good.clone();
        by_enclave_id.as_object_mut().unwrap().remove("snp_pcr11");
        by_enclave_id["enclave_id"] = json!([enclave_id(&c.pcrs)]);
        // PCR16 is zero in these captures: listing zero as a trusted signer must not help.
        let mut zero_signer = good.clone();
        zero_signer.as_object_mut().unwrap().remove("snp_pcr11");
        zero_signer["tpm_trusted_signer"] = json!([c.pcrs["16"]]);
        let mut tampered = c.evidence.clone();
        if let Some(r) = tampered.pointer_mut("/report/100") {
            *r = json!(r.as_u64().unwrap() ^ 1);
        } else {
            let s = tampered["hcl_report"].as_str().unwrap().to_string();
            let mut raw = base64::engine::general_purpose::URL_SAFE
                .decode(&s)
                .unwrap();
            raw[0x20 + 0x90] ^= 1; // a byte of the SNP report's MEASUREMENT
            tampered["hcl_report"] = json!(base64::engine::general_purpose::URL_SAFE.encode(raw));
        }
        let rows: Vec<(
            &str,
            Value,
            &Value,
            Option<Vec<u8>>,
            Option<&InitData>,
            Want,
        )> = vec![
            (
                "allowed",
                c.evidence.clone(),
                &good,
                Some(c.nonce.clone()),
                None,
                Want::Affirming,
            ),
            (
                "unbound (no nonce, spelled out): denied by production",
                c.evidence.clone(),
                &good,
                None,
                None,
                Want::Denied(&["binding.report_data"]),
            ),
            (
                "allowed by ENCLAVE ID",
                c.evidence.clone(),
                &by_enclave_id,
                Some(c.nonce.clone()),
                None,
                Want::Affirming,
            ),
            (
                "wrong measurement",
                c.evidence.clone(),
                &wrong_meas,
                Some(c.nonce.clone()),
                None,
                Want::Denied(&["az-snp-vtpm.identity"]),
            ),
            (
                "wrong PCR11",
                c.evidence.clone(),
                &wrong_pcr11,
                Some(c.nonce.clone()),
                None,
                Want::Denied(&["az-snp-vtpm.identity"]),
            ),
            (
                "zero PCR16 is no signer",
                c.evidence.clone(),
                &zero_signer,
                Some(c.nonce.clone()),
                None,
                Want::Denied(&["az-snp-vtpm.identity"]),
            ),
            (
                "TCB below minimum",
                c.evidence.clone(),
                &high_tcb,
                Some(c.nonce.clone()),
                None,
                Want::Denied(&["az-snp-vtpm.tcb_snp"]),
            ),
            (
                "wrong nonce",
                c.evidence.clone(),
                &good,
                Some(b"challengf".to_vec()),
                None,
                Want::Binding("report_data"),
            ),
            (
                "init-data not in PCR8",
                c.evidence.clone(),
                &good,
                Some(c.nonce.clone()),
                Some(&init),
                Want::Binding("init_data"),
            ),
            (
                "tampered SNP report",
                tampered,
                &good,
                Some(c.nonce.clone()),
                None,
                Want::Rejected("az-snp-vtpm evidence rejected"),
            ),
        ];
        for (name, ev, rv, nonce, init, want) in rows {
            let name = format!("{}: {name}", c.file);
            let svc = service(ServiceConfig::default(), rv).await;
            let res = svc.appraise("az-snp-vtpm", &ev, &bind(nonce), init).await;
            judge(&name, &svc, &want, res);
            ran += 1;
        }
    }
    assert_eq!(ran, 30);
}

/// Claims under trustee's names and types (strings), plus the recomputed ENCLAVE ID.
#[tokio::test]
async fn az_snp_vtpm_claims_are_trustee_shaped() {
    let Some(cases) = az_cases() else { return };
    for c in &cases {
        let svc = service(ServiceConfig::default(), &az_rv(c)).await;
        let a = svc
            .appraise(
                "az-snp-vtpm",
                &c.evidence,
                &Binding::ReportData(c.nonce.clone()),
                None,
            )
            .await
            .unwrap();
        assert!(a.report_data_checked);
        let ae = &a.claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"];
        let az = &ae["az-snp-vtpm"];
        assert_eq!(az["vmpl"], "0", "{}", c.file);
        assert_eq!(az["policy_debug_allowed"], "false");
        assert_eq!(az["reported_tcb_microcode"], "219");
        assert_eq!(az["measurement"], json!(c.measurement_b64));
        for i in 0..24 {
            assert_eq!(az["tpm"][format!("pcr{i:02}")], c.pcrs[i.to_string()]);
        }
        assert_eq!(az["enclave_id"], json!(enclave_id(&c.pcrs)));
        assert_eq!(ae["report_data"], json!(hex::encode(&c.nonce)));
        assert_eq!(ae["init_data"], c.pcrs["8"]);
    }
}

/// Debug and VMPL are signed and no real capture has them wrong (a VMPL other than 0 is
/// already rejected by the driver): flip them in the verified claims and run the production
/// policy over those, which is what enforces them.
#[tokio::test]
async fn az_snp_vtpm_debug_and_vmpl_denied_by_production() {
    let Some(cases) = az_cases() else { return };
    let c = &cases[2];
    let svc = service(ServiceConfig::default(), &az_rv(c)).await;
    let a = svc
        .appraise(
            "az-snp-vtpm",
            &c.evidence,
            &Binding::ReportData(c.nonce.clone()),
            None,
        )
        .await
        .unwrap();
    let input = a.claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"].clone();
    let rvs = Arc::new(svc.reference_values());
    let engine = PolicyEngine::new();
    for (field, value, id) in [
        ("policy_debug_allowed", "true", "az-snp-vtpm.debug"),
        ("vmpl", "1", "az-snp-vtpm.vmpl"),
        ("policy_migrate_ma", "true", "az-snp-vtpm.migration_agent"),
    ] {
        let mut bad = input.clone();
        bad["az-snp-vtpm"][field] = json!(value);
        let out = engine
            .evaluate_attestation(
                shipped::PRODUCTION_ID,
                shipped::PRODUCTION,
                &bad,
                rvs.clone(),
            )
            .unwrap();
        assert_eq!(out.status, EarStatus::Contraindicated, "{field}");
        let failed: Vec<_> = out.explanation.failed().collect();
        assert_eq!(failed.len(), 1, "{field}: {}", out.explanation);
        assert_eq!(failed[0].id, id);
        assert_eq!(failed[0].actual, json!(value));
    }
    let out = engine
        .evaluate_attestation(shipped::PRODUCTION_ID, shipped::PRODUCTION, &input, rvs)
        .unwrap();
    assert_eq!(out.status, EarStatus::Affirming, "{}", out.explanation);
}

/// KBS binding for az-snp-vtpm: the quote nonce must be the full 48-byte SHA-384 of the
/// canonical runtime data. Evidence v2's nonce is such a digest of unknown runtime data, so a
/// runtime-data request binds only when its digest equals the nonce; any other is refused.
#[tokio::test]
async fn az_snp_vtpm_runtime_data_binding_refuses_other_digest() {
    let Some(cases) = az_cases() else { return };
    let c = &cases[2];
    let svc = service(ServiceConfig::default(), &az_rv(c)).await;
    let rd = RuntimeData {
        nonce: b64(&[0u8; 32]),
        tee_pubkey: json!({"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW",
            "x": "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY",
            "y": "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"}),
        additional_evidence: String::new(),
    };
    let err = svc
        .appraise("az-snp-vtpm", &c.evidence, &Binding::RuntimeData(rd), None)
        .await
        .unwrap_err();
    match err {
        Error::Binding {
            what: "report_data",
            expected,
            actual,
            ..
        } => {
            assert_eq!(expected, "bc18735746472713c97d2b881e0a178e1b09bb652fd2a3d5e7945e756c7f14496d7cc1a29bf74a6b3bfe248691e5f3b4");
            assert_eq!(actual, hex::encode(&c.nonce));
        }
        other => panic!("{other:?}"),
    }
}

// ------------------------------------------------------------------------------------- tpm

/// A TPMT_SIGNATURE (RSASSA, SHA-256) around a raw 256-byte signature.
fn tpmt_rsassa_sha256(sig: &[u8]) -> Vec<u8> {
    let mut out = vec![0x00, 0x14, 0x00, 0x0b];
    out.extend((sig.len() as u16).to_be_bytes());
    out.extend(sig);
    out
}

struct TpmVec {
    evidence: Value,
    ak_b64: String,
    ak_pem: String,
    pcrs: Value,
}

/// trustee's `tpm` evidence from the real Azure vTPM quote files (a plain format conversion).
fn tpm_vector() -> Option<TpmVec> {
    let pem = std::fs::read_to_string(td("tpm/azure-snp-vtpm-akpub.pem")?).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    let msg = std::fs::read(td("tpm/azure-snp-vtpm-quote.msg")?).unwrap();
    let sig = std::fs::read(td("tpm/azure-snp-vtpm-quote.sig")?).unwrap();
    let pcrs = read_json(td("tpm/azure-snp-vtpm-quote-pcrs.json")?)["sha256"].clone();
    let list: Vec<Value> = (0..24).map(|i| pcrs[i.to_string()].clone()).collect();
    Some(TpmVec {
        evidence: json!({
            "ak_public": b64(&der),
            "tpm_quote": {"signature": b64(&tpmt_rsassa_sha256(&sig)), "message": b64(&msg), "pcrs": list},
        }),
        ak_b64: b64(&der),
        ak_pem: pem,
        pcrs,
    })
}

/// A valid SPKI of a key that did not sign the quote.
fn other_ak_b64() -> String {
    use p256::pkcs8::EncodePublicKey;
    let k = p256::ecdsa::SigningKey::from_slice(&[3u8; 32]).unwrap();
    b64(k.verifying_key().to_public_key_der().unwrap().as_bytes())
}

#[tokio::test]
async fn tpm_table() {
    let Some(v) = tpm_vector() else { return };
    let nonce = b"challenge".to_vec();
    let good = json!({"trusted_aks": [v.ak_b64], "tpm_pcr11": [v.pcrs["11"]]});
    let pem_ak = json!({"trusted_aks": [v.ak_pem], "tpm_pcr11": [v.pcrs["11"]]});
    let by_enclave_id = json!({"trusted_aks": [v.ak_b64], "enclave_id": [enclave_id(&v.pcrs)]});
    let wrong_pcr11 = json!({"trusted_aks": [v.ak_b64], "tpm_pcr11": ["11".repeat(32)]});
    let zero_signer = json!({"trusted_aks": [v.ak_b64], "tpm_trusted_signer": [v.pcrs["16"]]});
    let other_ak = json!({"tpm_pcr11": [v.pcrs["11"]], "trusted_aks": [other_ak_b64()]});
    let mut tampered = v.evidence.clone();
    tampered["tpm_quote"]["pcrs"][4] = json!("00".repeat(32));
    let mut bad_sig = v.evidence.clone();
    let s = bad_sig["tpm_quote"]["signature"]
        .as_str()
        .unwrap()
        .to_string();
    let mut raw = base64::engine::general_purpose::STANDARD.decode(s).unwrap();
    raw[10] ^= 1;
    bad_sig["tpm_quote"]["signature"] = json!(b64(&raw));
    let mut with_log = v.evidence.clone();
    with_log["event_log"] = json!(b64(&std::fs::read(
        td("tpm/eventlog/arch-linux-workstation.bin").unwrap()
    )
    .unwrap()));
    let init = InitData {
        format: "toml".into(),
        body: "algorithm = \"sha256\"\nversion = \"0.1.0\"\n".into(),
    };
    let strict = ServiceConfig::default();
    let lenient = ServiceConfig {
        tpm_allow_untrusted_ak: true,
        ..ServiceConfig::default()
    };
    let rows: Vec<(
        &str,
        &ServiceConfig,
        Value,
        &Value,
        Option<Vec<u8>>,
        Option<&InitData>,
        Want,
    )> = vec![
        (
            "allowed",
            &strict,
            v.evidence.clone(),
            &good,
            Some(nonce.clone()),
            None,
            Want::Affirming,
        ),
        (
            "AK registered as PEM",
            &strict,
            v.evidence.clone(),
            &pem_ak,
            Some(nonce.clone()),
            None,
            Want::Affirming,
        ),
        (
            "allowed by ENCLAVE ID",
            &strict,
            v.evidence.clone(),
            &by_enclave_id,
            Some(nonce.clone()),
            None,
            Want::Affirming,
        ),
        (
            "untrusted AK rejected",
            &strict,
            v.evidence.clone(),
            &other_ak,
            Some(nonce.clone()),
            None,
            Want::Rejected("trusted_aks"),
        ),
        (
            "untrusted AK denied when allowed through",
            &lenient,
            v.evidence.clone(),
            &other_ak,
            Some(nonce.clone()),
            None,
            Want::Denied(&["tpm.ak"]),
        ),
        (
            "wrong PCR11",
            &strict,
            v.evidence.clone(),
            &wrong_pcr11,
            Some(nonce.clone()),
            None,
            Want::Denied(&["tpm.identity"]),
        ),
        (
            "zero PCR16 is no signer",
            &strict,
            v.evidence.clone(),
            &zero_signer,
            Some(nonce.clone()),
            None,
            Want::Denied(&["tpm.identity"]),
        ),
        (
            "wrong nonce",
            &strict,
            v.evidence.clone(),
            &good,
            Some(b"challengf".to_vec()),
            None,
            Want::Binding("report_data"),
        ),
        (
            "init-data not in PCR8",
            &strict,
            v.evidence.clone(),
            &good,
            Some(nonce.clone()),
            Some(&init),
            Want::Binding("init_data"),
        ),
        (
            "PCR value changed",
            &strict,
            tampered,
            &good,
            Some(nonce.clone()),
            None,
            Want::Rejected("quote"),
        ),
        (
            "signature bit flipped",
            &strict,
            bad_sig,
            &good,
            Some(nonce.clone()),
            None,
            Want::Rejected("quote"),
        ),
        (
            "event log of another machine",
            &strict,
            with_log,
            &good,
            Some(nonce.clone()),
            None,
            Want::Rejected("event_log"),
        ),
    ];
    let total = rows.len();
    let mut ran = 0;
    for (name, cfg, ev, rv, nonce, init, want) in rows {
        let svc = service(cfg.clone(), rv).await;
        let res = svc.appraise("tpm", &ev, &bind(nonce), init).await;
        judge(name, &svc, &want, res);
        ran += 1;
    }
    assert_eq!(ran, total);
}

#[tokio::test]
async fn tpm_claims() {
    let Some(v) = tpm_vector() else { return };
    let rv = json!({"trusted_aks": [v.ak_b64], "tpm_pcr11": [v.pcrs["11"]]});
    let svc = service(ServiceConfig::default(), &rv).await;
    let a = svc
        .appraise(
            "tpm",
            &v.evidence,
            &Binding::ReportData(b"challenge".to_vec()),
            None,
        )
        .await
        .unwrap();
    let ae = &a.claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"];
    let t = &ae["tpm"];
    assert_eq!(t["ak_public"], json!(v.ak_b64));
    assert_eq!(t["ak_trusted"], true);
    assert_eq!(t["enclave_id"], json!(enclave_id(&v.pcrs)));
    for i in 0..24 {
        assert_eq!(t[format!("pcr{i:02}")], v.pcrs[i.to_string()]);
    }
    assert_eq!(ae["report_data"], json!(hex::encode(b"challenge")));
    assert_eq!(ae["init_data"], v.pcrs["8"]);
    // Without an expected nonce (spelled out) the quote is still verified, the result says
    // so, and the production policy denies the unbound evidence.
    let a = svc
        .appraise("tpm", &v.evidence, &Binding::Unchecked, None)
        .await
        .unwrap();
    assert!(!a.report_data_checked);
    assert_eq!(a.binding, "unchecked");
    assert_ne!(a.status, EarStatus::Affirming);
    let failed: Vec<_> = a.explanation.failed().map(|c| c.id.as_str()).collect();
    assert_eq!(failed, ["binding.report_data"], "{}", a.explanation);
}

#[tokio::test]
async fn tpm_malformed_evidence_is_a_typed_rejection() {
    let Some(v) = tpm_vector() else { return };
    let svc = service(
        ServiceConfig::default(),
        &json!({"trusted_aks": [v.ak_b64]}),
    )
    .await;
    let mut cases = Vec::new();
    for (ptr, val) in [
        ("/ak_public", json!(5)),
        ("/ak_public", json!("!!!")),
        ("/tpm_quote/message", json!("")),
        ("/tpm_quote/pcrs", json!(["zz"])),
        ("/tpm_quote/pcrs", json!(vec!["00".repeat(32); 25])),
        ("/tpm_quote/signature", json!(b64(&[0, 0x14]))),
    ] {
        let mut e = v.evidence.clone();
        *e.pointer_mut(ptr).unwrap() = val;
        cases.push(e);
    }
    let mut e = v.evidence.clone();
    e["surprise"] = json!(1);
    cases.push(e);
    cases.push(json!([1, 2]));
    for e in cases {
        let err = svc
            .appraise("tpm", &e, &Binding::Unchecked, None)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::EvidenceRejected { .. }), "{e}: {err}");
    }
}
