//! Wycheproof ECDSA P-256/SHA-256 (`r || s`, IEEE P1363) vectors through the ES256 seam,
//! exactly as [`super::super::TokenVerifier`] reaches it: the public point as the JWK `x`/`y`
//! a consumer configures ([`super::super::verifying_key_from_jwk`]), prepared by
//! [`Es256Verifier::new`] for each backend this build has (RustCrypto always, aws-lc-rs with
//! the `aws-lc` feature, which the workspace build turns on), then [`Es256Verifier::verify`]
//! on the message and the raw signature bytes. Results: `docs/wycheproof.md`.
//!
//! "acceptable" vectors: none in this file; should a later vector set add some, they must be
//! rejected (a token signature that is only tolerable is refused).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use wycheproof::ecdsa::{TestName, TestSet};
use wycheproof::TestResult;

use super::{Backend, Es256Verifier};
use crate::token::verifying_key_from_jwk;

fn backends() -> Vec<Backend> {
    vec![
        Backend::RustCrypto,
        #[cfg(feature = "aws-lc")]
        Backend::AwsLc,
    ]
}

/// The JWK a consumer would configure for a SEC1 point; `None` if the point is not the
/// uncompressed 65-byte form (a JWK cannot carry anything else).
fn jwk(sec1: &[u8]) -> Option<serde_json::Value> {
    match sec1 {
        [4, xy @ ..] if xy.len() == 64 => Some(serde_json::json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256",
            "x": B64.encode(&xy[..32]), "y": B64.encode(&xy[32..]),
        })),
        _ => None,
    }
}

#[test]
fn ecdsa_p256_sha256_p1363_verify() {
    let set = TestSet::load(TestName::EcdsaSecp256r1Sha256P1363).expect("vector set");
    for backend in backends() {
        let (mut run, mut valid_accepted, mut invalid_rejected) = (0, 0, 0);
        let mut unexpected = Vec::new();
        for g in &set.test_groups {
            let key = jwk(&g.key.key).and_then(|j| verifying_key_from_jwk(&j).ok());
            let verifier = key.map(|k| Es256Verifier::new(k, backend));
            if let Some(v) = &verifier {
                // A key aws-lc-rs refused would silently fall back to RustCrypto.
                assert_eq!(v.backend(), backend, "key {:?}", g.key.key);
            }
            for tc in &g.tests {
                run += 1;
                let accepted = verifier
                    .as_ref()
                    .is_some_and(|v| v.verify(&tc.msg, &tc.sig));
                match (tc.result, accepted) {
                    (TestResult::Valid, true) => valid_accepted += 1,
                    (TestResult::Invalid, false) => invalid_rejected += 1,
                    // Choice: "acceptable" must be rejected; there are none today.
                    _ => unexpected.push(format!(
                        "tcId {} ({:?}, {}): {:?} flags {:?}",
                        tc.tc_id,
                        tc.result,
                        if accepted { "accepted" } else { "rejected" },
                        tc.comment,
                        tc.flags
                    )),
                }
            }
        }
        println!(
            "wycheproof ECDSA P-256/SHA-256 (ES256) verify [{backend:?}]: {run} run, \
             {valid_accepted} valid accepted, {invalid_rejected} invalid rejected, \
             {} unexpected",
            unexpected.len()
        );
        assert!(
            unexpected.is_empty(),
            "ES256 [{backend:?}]: {} unexpected results:\n{}",
            unexpected.len(),
            unexpected.join("\n")
        );
        assert_eq!(run, set.number_of_tests);
        assert!(run > 0);
    }
}
