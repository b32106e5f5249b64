//! Azure SNP vTPM: every real capture verifies; trustee's mutations and other tampering fail.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, SystemTime};

use remits_tpm::azure::{pem_certificates, verify_az_snp_vtpm, AzSnpVtpmEvidence, HclReport};
use remits_tpm::{Error, HashAlg, NonceCheck};

const CHALLENGE: &[u8] = b"challenge";
const V2_NONCE: &str = "982f5c6e45df0ed3f10b6f60b02f0c8390e281300f3805e2279c16168cd6ae9aa398f647caa2338748cd0fd9f5f819ef";

fn at() -> remits_snp::VerifyOptions {
    // 2026-11-01T00:00:00Z: inside every VCEK's validity window.
    remits_snp::VerifyOptions::at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_793_491_200))
}

fn verifier() -> remits_snp::Verifier {
    remits_snp::Verifier::new(remits_snp::TrustAnchors::amd())
}

fn load(name: &str) -> Option<AzSnpVtpmEvidence> {
    let p = remits_testsupport::testdata::dir()?
        .join("az-snp-vtpm")
        .join(name);
    Some(AzSnpVtpmEvidence::from_json(&std::fs::read(p).unwrap()).unwrap())
}

/// hcl-report.bin + tpm-quote-v1.json + vcek.pem as V1 evidence.
fn split_capture() -> Option<AzSnpVtpmEvidence> {
    let d = remits_testsupport::testdata::dir()?.join("az-snp-vtpm");
    let q: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("tpm-quote-v1.json")).unwrap()).unwrap();
    let h = |v: &serde_json::Value| hex::decode(v.as_str().unwrap()).unwrap();
    Some(AzSnpVtpmEvidence {
        version: 1,
        signature: h(&q["signature"]),
        message: h(&q["message"]),
        pcrs: q["pcrs"].as_array().unwrap().iter().map(h).collect(),
        hcl_report: std::fs::read(d.join("hcl-report.bin")).unwrap(),
        vcek: pem_certificates(&std::fs::read_to_string(d.join("vcek.pem")).unwrap()).unwrap(),
    })
}

#[test]
fn real_captures_verify() {
    let v = verifier();
    let Some(e0) = load("evidence-v0.json") else {
        return;
    };
    let c = verify_az_snp_vtpm(&e0, &v, &at(), NonceCheck::Expected(CHALLENGE)).unwrap();
    assert_eq!(c.evidence_version(), 0);
    assert_eq!(
        hex::encode(c.tpm().pcrs().get(HashAlg::Sha256, 0).unwrap()),
        "e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8b7664f48dced"
    );
    assert_eq!(c.snp().vmpl, 0);
    assert_eq!(c.report_data(), hex::encode(CHALLENGE));
    assert_eq!(
        c.runtime_claims().vm_configuration["vmUniqueId"],
        "26F8BC30-774E-4290-8E7A-535F3B672AEE"
    );
    serde_json::to_value(&c).unwrap();

    let e1 = load("evidence-v1.json").unwrap();
    let c = verify_az_snp_vtpm(&e1, &v, &at(), NonceCheck::Expected(CHALLENGE)).unwrap();
    assert_eq!(c.evidence_version(), 1);
    assert_eq!(
        hex::encode(c.tpm().pcrs().get(HashAlg::Sha256, 0).unwrap()),
        "e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8b7664f48dced"
    );

    let e2 = load("evidence-v2.json").unwrap();
    let nonce = hex::decode(V2_NONCE).unwrap();
    let c = verify_az_snp_vtpm(&e2, &v, &at(), NonceCheck::Expected(&nonce)).unwrap();
    assert_eq!(c.evidence_version(), 2);
    assert_eq!(
        hex::encode(c.tpm().pcrs().get(HashAlg::Sha256, 0).unwrap()),
        "84275b2f4312cd4fc6cbe6b152ad3c3683e513d9f1e23c34fca160c8cca7a6a7"
    );
    assert!(c
        .runtime_claims()
        .user_data
        .as_ref()
        .unwrap()
        .starts_with(&nonce));

    let split = split_capture().unwrap();
    let c = verify_az_snp_vtpm(&split, &v, &at(), NonceCheck::Expected(CHALLENGE)).unwrap();
    assert_eq!(
        hex::encode(c.tpm().pcrs().get(HashAlg::Sha256, 0).unwrap()),
        "f3a7e99a5f819a034386bce753a48a73cfdaa0bea0ecfc124bedbf5a8c4799be"
    );
    // The V0 JSON round-trips through the V1 writer.
    let again = AzSnpVtpmEvidence::from_value(e0.to_json_v1v2()).unwrap();
    assert_eq!(again.hcl_report, e0.hcl_report);
}

#[test]
fn wrong_nonce_rejected() {
    let v = verifier();
    let Some(e0) = load("evidence-v0.json") else {
        return;
    };
    let e = verify_az_snp_vtpm(&e0, &v, &at(), NonceCheck::Expected(b"challengX")).unwrap_err();
    assert!(matches!(e, Error::NonceMismatch { .. }), "{e}");
    let e2 = load("evidence-v2.json").unwrap();
    let e = verify_az_snp_vtpm(
        &e2,
        &v,
        &at(),
        NonceCheck::Expected(&hex::decode("123abc").unwrap()),
    )
    .unwrap_err();
    assert!(matches!(e, Error::NonceMismatch { .. }), "{e}");
}

#[test]
fn v2_requires_user_data_prefix() {
    let v = verifier();
    let Some(mut e1) = load("evidence-v1.json") else {
        return;
    };
    // The v1 capture's user-data is zero, so claiming V2 rules must fail on the prefix.
    e1.version = 2;
    let e = verify_az_snp_vtpm(&e1, &v, &at(), NonceCheck::Expected(CHALLENGE)).unwrap_err();
    assert!(matches!(e, Error::UserData(_)), "{e}");
}

#[test]
fn trustee_mutations_rejected() {
    let v = verifier();
    let Some(base) = split_capture() else { return };
    // reported_tcb snp byte → TCB mismatch (the SNP report no longer verifies).
    let mut m = base.clone();
    m.hcl_report[0x1A6] = 0;
    let e = verify_az_snp_vtpm(&m, &v, &at(), NonceCheck::Expected(CHALLENGE)).unwrap_err();
    assert!(matches!(e, Error::Snp(_)), "{e}");
    // Runtime JSON changed → report_data no longer commits to it.
    let mut m = base.clone();
    m.hcl_report[0x6E0] += 1;
    let e = verify_az_snp_vtpm(&m, &v, &at(), NonceCheck::Expected(CHALLENGE)).unwrap_err();
    assert!(matches!(e, Error::ReportDataBinding { .. }), "{e}");
    // NUL inside HCLAkPub → runtime claims unusable.
    let mut m = base.clone();
    m.hcl_report[0x540] = 0;
    let e = verify_az_snp_vtpm(&m, &v, &at(), NonceCheck::Expected(CHALLENGE)).unwrap_err();
    assert!(matches!(e, Error::RuntimeClaims(_)), "{e}");
}

#[test]
fn tampered_quote_pcrs_and_report_rejected() {
    let v = verifier();
    let Some(base) = load("evidence-v1.json") else {
        return;
    };
    let mut m = base.clone();
    m.message[20] ^= 1;
    assert!(matches!(
        verify_az_snp_vtpm(&m, &v, &at(), NonceCheck::Expected(CHALLENGE)),
        Err(Error::BadSignature { .. })
    ));
    let mut m = base.clone();
    m.pcrs[8][0] ^= 1;
    assert!(matches!(
        verify_az_snp_vtpm(&m, &v, &at(), NonceCheck::Expected(CHALLENGE)),
        Err(Error::PcrDigestMismatch { .. })
    ));
    let mut m = base.clone();
    m.pcrs.pop();
    assert!(matches!(
        verify_az_snp_vtpm(&m, &v, &at(), NonceCheck::Expected(CHALLENGE)),
        Err(Error::PcrSelectionMismatch { .. })
    ));
    // Any bit of the SNP report's signed region (report_data here).
    let mut m = base.clone();
    m.hcl_report[0x20 + 0x50] ^= 1;
    assert!(matches!(
        verify_az_snp_vtpm(&m, &v, &at(), NonceCheck::Expected(CHALLENGE)),
        Err(Error::Snp(_))
    ));
    // Quote and SNP report from two different VMs.
    let other = load("evidence-v2.json").unwrap();
    let mut m = base.clone();
    m.hcl_report = other.hcl_report.clone();
    m.vcek = other.vcek.clone();
    assert!(matches!(
        verify_az_snp_vtpm(&m, &v, &at(), NonceCheck::Expected(CHALLENGE)),
        Err(Error::BadSignature { .. })
    ));
    // VCEK of another chip.
    let mut m = base.clone();
    m.vcek = other.vcek;
    assert!(matches!(
        verify_az_snp_vtpm(&m, &v, &at(), NonceCheck::Expected(CHALLENGE)),
        Err(Error::Snp(_))
    ));
    // Evidence after the VCEK expired.
    let late =
        remits_snp::VerifyOptions::at(SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000));
    assert!(matches!(
        verify_az_snp_vtpm(&base, &v, &late, NonceCheck::Expected(CHALLENGE)),
        Err(Error::Snp(_))
    ));
}

#[test]
fn evidence_json_strict() {
    let Some(_) = remits_testsupport::testdata::dir() else {
        return;
    };
    assert!(AzSnpVtpmEvidence::from_json(
        br#"{"version":3,"tpm_quote":{},"hcl_report":"","vcek":""}"#
    )
    .is_err());
    assert!(AzSnpVtpmEvidence::from_json(br#"{"version":"1"}"#).is_err());
    assert!(AzSnpVtpmEvidence::from_json(b"[]").is_err());
    let d = remits_testsupport::testdata::dir()
        .unwrap()
        .join("az-snp-vtpm");
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("evidence-v1.json")).unwrap()).unwrap();
    v["extra"] = serde_json::json!(1);
    assert!(AzSnpVtpmEvidence::from_value(v).is_err());
}

#[test]
fn hcl_report_parse_strict() {
    let Some(base) = split_capture() else { return };
    let h = HclReport::parse(&base.hcl_report).unwrap();
    assert_eq!(h.version(), 1);
    assert_eq!(h.report_size(), 2346);
    assert_eq!(h.var_data().len(), 1110);
    for (off, val) in [
        (0usize, b'X'),
        (4, 9),
        (12, 3),
        (16, 1),
        (0x4C0, 0),
        (0x4C4, 2),
        (0x4C8, 4),
        (0x4CC, 9),
        (2599, 1),
    ] {
        let mut b = base.hcl_report.clone();
        b[off] = val;
        assert!(HclReport::parse(&b).is_err(), "byte {off:#x}");
    }
    for n in [0, 31, 0x4C0, 0x4D4, 2000] {
        assert!(HclReport::parse(&base.hcl_report[..n]).is_err());
    }
}
