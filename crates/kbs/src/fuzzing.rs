//! Entry points for the `kbs_request`, `admin_jwt` and `broker_config` fuzz targets: every request
//! body and header the server parses — `Request` (/auth), `Attestation` (/attest, with its TEE
//! key), resource paths, session cookies, admin JWTs, stored session records — the client's JWE
//! parser, and the broker's TOML configuration. Must never panic, hang or allocate without bound
//! on any input; `tests/fuzz_entry.rs` runs them over seeds and their mutations in CI.

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
        admin_jwt(data);
    }
    if let Ok(jwe) = serde_json::from_slice::<JweMessage>(data) {
        if let Ok(sk) = p256::SecretKey::from_slice(&[9u8; 32]) {
            let _ = TeeKeyPair::P256(sk).decrypt(&jwe);
        }
    }
}

/// The admin key the [`admin_jwt`] target verifies under (Ed25519, a fixed seed).
pub fn admin_key() -> AdminSigningKey {
    AdminSigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]))
}

/// The time [`admin_jwt`] verifies at (2027-01-15).
pub const ADMIN_NOW_SECS: u64 = 1_800_000_000;

/// The `admin_jwt` target: `data` as the `Authorization` header of an admin request (with or
/// without `Bearer `), verified under [`admin_key`] at [`ADMIN_NOW_SECS`]: header, algorithm,
/// claims, lifetime and signature checks.
pub fn admin_jwt(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let v = AdminVerifier::new(
        vec![NamedKey {
            name: "k".into(),
            key: admin_key().public_key(),
        }],
        Duration::from_secs(3600),
    );
    let now = UNIX_EPOCH + Duration::from_secs(ADMIN_NOW_SECS);
    let _ = v.verify(Some(s), now);
    if !s.starts_with("Bearer ") {
        let _ = v.verify(Some(format!("Bearer {s}").as_str()), now);
    }
}

/// The `broker_config` target: `data` as `remits-broker`'s TOML configuration, parsed and
/// validated as `BrokerConfig::load` does (the file cap is `MAX_INPUT_FILE`).
pub fn broker_config(data: &[u8]) {
    if data.len() as u64 > remits_evidence::input::MAX_INPUT_FILE {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match toml::from_str::<crate::config::BrokerConfig>(text) {
        Ok(cfg) => {
            let _ = cfg.validate();
        }
        Err(e) => {
            let _ = remits_evidence::parse_error::toml(&e, text);
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
