//! [`AttestationServiceBuilder`]: a service built from bytes only (no configured files)
//! appraises a real SEV-SNP report; missing mandatory pieces and bad inputs fail closed with a
//! typed error naming them.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use remits_evidence::clock::FixedClock;
use remits_policy::{shipped, EarStatus};
use remits_store::MemoryStore;
use remits_verify::{AttestationServiceBuilder, Binding, CrlMode, Error, ServicePart};
use serde_json::json;

const MILAN_SEV_MEAS: &str = "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f";

/// 2026-11-01T00:00:00Z, inside the Milan VCEK's validity.
fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock(UNIX_EPOCH + Duration::from_secs(1_793_491_200)))
}

/// A builder with every mandatory piece, all from memory.
fn complete() -> AttestationServiceBuilder {
    let (key_pem, _) = remits_verify::generate_signing_key_pem(&mut rand::rngs::OsRng).unwrap();
    AttestationServiceBuilder::new()
        .store(Arc::new(MemoryStore::new()))
        .clock(clock())
        .token_signing_key_pem(&key_pem)
        .unwrap()
        .policy_text(shipped::PRODUCTION)
}

#[tokio::test]
async fn service_from_bytes_appraises_a_real_snp_report() {
    let Some(td) = remits_testsupport::testdata::dir() else {
        return;
    };
    // The test reads its vectors; the service itself gets only bytes.
    let report = std::fs::read(td.join("snp/milan-v2-sev-report.bin")).unwrap();
    let vcek = std::fs::read(td.join("snp/milan-v2-sev-vcek.der")).unwrap();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let evidence =
        json!({"report": b64(&report), "cert_chain": [{"cert_type": "VCEK", "data": b64(&vcek)}]});
    let rv = json!({
        "snp_launch_measurement": [MILAN_SEV_MEAS],
        "snp_min_tcb_milan": [{"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115}],
    });
    // An extra (simulator) root as DER bytes and a manifest signer as PEM text: accepted
    // alongside AMD's roots, which the real report chains to.
    let sim = remits_sim::SimChain::generate(&mut rand::rngs::OsRng).unwrap();
    let signer = remits_manifest::signing::SigningKey::from_pem(
        &std::fs::read_to_string(td.join("measure/id_key_test.pem")).unwrap(),
    )
    .unwrap()
    .public_key();
    let svc = complete()
        .snp_ark(sim.ark_der())
        .manifest_signer(signer)
        .reference_values(rv.to_string().into_bytes())
        .issuer("embedder")
        .build()
        .await
        .unwrap();
    let nonce = report[0x50..0x90].to_vec();
    let a = svc
        .appraise("snp", &evidence, &Binding::ReportData(nonce.clone()), None)
        .await
        .unwrap();
    assert_eq!(a.status, EarStatus::Affirming, "{}", a.explanation);
    assert!(a.report_data_checked);
    let claims = svc.verify_token(&a.token).unwrap();
    assert_eq!(claims["iss"], "embedder");

    // The same report under another nonce: the binding fails, whatever the builder trusted.
    let mut other = nonce;
    other[0] ^= 1;
    let err = svc
        .appraise("snp", &evidence, &Binding::ReportData(other), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Binding { .. }), "{err}");

    // Without its reference values the production policy does not affirm.
    let bare = complete().build().await.unwrap();
    let a = bare
        .appraise(
            "snp",
            &evidence,
            &Binding::ReportData(report[0x50..0x90].to_vec()),
            None,
        )
        .await
        .unwrap();
    assert_ne!(a.status, EarStatus::Affirming);
}

#[tokio::test]
async fn missing_mandatory_pieces_are_named() {
    let key = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
    let b = || AttestationServiceBuilder::new();
    let missing = |r: Result<_, Error>| match r {
        Err(Error::Missing(p)) => p,
        Err(e) => panic!("expected Missing, got {e}"),
        Ok(_) => panic!("expected Missing, got a service"),
    };
    assert_eq!(missing(b().build().await), ServicePart::Store);
    let with_store = || b().store(Arc::new(MemoryStore::new()));
    assert_eq!(missing(with_store().build().await), ServicePart::Clock);
    assert_eq!(
        missing(with_store().clock(clock()).build().await),
        ServicePart::TokenSigningKey
    );
    assert_eq!(
        missing(
            with_store()
                .clock(clock())
                .token_signing_key(key.clone())
                .build()
                .await
        ),
        ServicePart::AttestationPolicy
    );
    let err = missing(b().production_policy().build().await);
    assert_eq!(err.to_string(), "store");
    assert!(with_store()
        .clock(clock())
        .token_signing_key(key)
        .production_policy()
        .build()
        .await
        .is_ok());
}

#[tokio::test]
async fn bad_inputs_fail_closed() {
    // The sample TEE is refused unless allowed.
    let svc = complete().build().await.unwrap();
    let err = svc
        .appraise("sample", &json!({}), &Binding::Unchecked, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TeeDisabled { .. }), "{err}");

    let config = |r: Result<_, Error>| match r {
        Err(Error::Config(m)) => m,
        Err(e) => panic!("expected Config, got {e}"),
        Ok(_) => panic!("expected Config, got a service"),
    };
    // Not a certificate, not an ARK.
    let m = config(
        complete()
            .snp_ark(b"not a certificate".to_vec())
            .build()
            .await,
    );
    assert!(m.contains("snp ark #1"), "{m}");
    // An ARK as PEM: one long Base64 line is accepted; a bundle of two is not.
    let sim = remits_sim::SimChain::generate(&mut rand::rngs::OsRng).unwrap();
    let one_line = format!(
        "-----BEGIN CERTIFICATE-----\r\n{}\r\n-----END CERTIFICATE-----\r\n",
        base64::engine::general_purpose::STANDARD.encode(sim.ark_der())
    );
    complete()
        .snp_ark(one_line.clone().into_bytes())
        .build()
        .await
        .unwrap();
    let m = config(
        complete()
            .snp_ark(format!("{one_line}{one_line}").into_bytes())
            .build()
            .await,
    );
    assert!(
        m.contains("snp ark #1") && m.contains("more than 1 PEM"),
        "{m}"
    );
    // Fail-closed CRL checking with no CRL would deny everything: refused at build.
    let m = config(complete().snp_crl_check(CrlMode::FailClosed).build().await);
    assert!(m.contains("fail-closed"), "{m}");
    // A CRL that is no CRL.
    let m = config(complete().snp_vcek_crl(b"junk".to_vec()).build().await);
    assert!(m.contains("vcek crl #1"), "{m}");
    // Token lifetime and issuer.
    config(complete().token_ttl(Duration::ZERO).build().await);
    config(complete().issuer("").build().await);
    // Key and signer text that is no key.
    assert!(matches!(
        AttestationServiceBuilder::new().token_signing_key_pem("junk"),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        AttestationServiceBuilder::new().manifest_signer_pem("junk"),
        Err(Error::Config(_))
    ));
    // Policy text that does not compile; reference values that do not parse.
    assert!(matches!(
        complete()
            .policy_text("package policy\nallow {")
            .build()
            .await,
        Err(Error::Policy(_))
    ));
    assert!(matches!(
        complete().reference_values(b"{".to_vec()).build().await,
        Err(Error::ReferenceValues(_))
    ));
}
