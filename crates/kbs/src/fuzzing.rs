//! Entry point for the `kbs_request` fuzz target: every request body and header the server
//! parses — `Request` (/auth), `Attestation` (/attest, with its TEE key), resource paths,
//! session cookies, admin JWTs, stored session records — and the client's JWE parser.
//! Must never panic, hang or allocate without bound on any input.

use std::time::{Duration, UNIX_EPOCH};

use crate::admin::{AdminSigningKey, AdminVerifier, NamedKey};
use crate::jwe::{JweMessage, RecipientKey, TeeKeyPair};
use crate::protocol::{Attestation, Request, ResourcePath};
use crate::session::{SessionId, SessionRecord};

/// Runs every parser on `data`.
pub fn request(data: &[u8]) {
    let _ = serde_json::from_slice::<Request>(data);
    if let Ok(a) = serde_json::from_slice::<Attestation>(data) {
        if let Ok(v) = serde_json::to_value(&a.runtime_data.tee_pubkey) {
            let _ = RecipientKey::from_jwk(&v);
            let _ = remits_evidence::binding::sanitize_tee_pubkey(&v);
        }
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = RecipientKey::from_jwk(&v);
    }
    let _ = SessionRecord::from_bytes(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = ResourcePath::parse(s);
        let _ = SessionId::parse(s);
        let key = AdminSigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]));
        let v = AdminVerifier::new(
            vec![NamedKey {
                name: "k".into(),
                key: key.public_key(),
            }],
            Duration::from_secs(3600),
        );
        let _ = v.verify(Some(s), UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    }
    if let Ok(jwe) = serde_json::from_slice::<JweMessage>(data) {
        if let Ok(sk) = p256::SecretKey::from_slice(&[9u8; 32]) {
            let _ = TeeKeyPair::P256(sk).decrypt(&jwe);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeds_do_not_panic() {
        for seed in [
            &br#"{"version":"0.4.0","tee":"sample","extra-params":{}}"#[..],
            br#"{"init-data":null,"runtime-data":{"nonce":"x","tee-pubkey":{"kty":"EC","crv":"P-256","alg":"ECDH-ES+A256KW","x":"AA","y":"AA"}},"tee-evidence":{"primary_evidence":{},"additional_evidence":""}}"#,
            b"default/key/1",
            b"Bearer a.b.c",
            br#"{"protected":"e30","encrypted_key":"","iv":"","ciphertext":"","tag":""}"#,
            b"\xff\xfe",
        ] {
            super::request(seed);
        }
    }
}
