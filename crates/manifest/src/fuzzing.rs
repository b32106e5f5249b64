//! The `measure_manifest` fuzz target's entry and key (re-exported as
//! `remits_measure::fuzzing::{manifest, manifest_key}`). [`manifest`] must return — never panic,
//! hang or allocate without bound — whatever the input.

use crate::manifest::{verify_signed, Manifest};
use crate::signing::SigningKey;

/// The key [`manifest`] checks signatures under (Ed25519, a fixed seed); seeds signed with it
/// reach the checks past the signature.
pub fn manifest_key() -> SigningKey {
    SigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[5; 32]))
}

/// The `measure_manifest` target: `data` as a measurement manifest: parsed and checked for
/// consistency (every PCR the replay of its events, the ENCLAVE ID), re-serialised, its extend
/// plan computed, and verified as signed under [`manifest_key`].
pub fn manifest(data: &[u8]) {
    if let Ok(m) = Manifest::from_json(data) {
        let _ = m.extend_plan();
        let _ = m.to_json();
    }
    if let Ok(m) = verify_signed(data, &manifest_key().public_key()) {
        let _ = m.extend_plan();
    }
}
