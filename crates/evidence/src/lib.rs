//! Types shared by every remits crate: the kinds of TEE ([`TeeKind`]), the project's own evidence
//! envelopes ([`envelope`]), the CoCo runtime-data binding ([`binding`]), init-data digests
//! ([`initdata`]), an injectable clock ([`clock`]), the [`attester::Attester`] seam, serde helpers
//! ([`hexser`], [`b64ser`]) and capped input-file reading ([`input`]). (The location of the shared
//! test vectors is `remits_testsupport::testdata`, a dev-only crate.)
//!
//! This crate holds no cryptographic policy: it only says how things are encoded and bound.
#![forbid(unsafe_code)]

pub mod attester;
pub mod b64ser;
pub mod binding;
pub mod clock;
pub mod envelope;
// Entry points for fuzz/ and tests only: not a stable API (rustls' `internal` pattern).
#[doc(hidden)]
pub mod fuzzing;
pub mod hexser;
pub mod initdata;
pub mod input;
pub mod output;
pub mod parse_error;

mod tee;

pub use tee::TeeKind;

/// Errors from encoding, binding and init-data handling.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A JSON value could not be canonicalised (RFC 8785).
    #[error("cannot canonicalise {what} as RFC 8785 JSON: {reason}")]
    Canonical {
        /// Which value.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A TEE public key (JWK) is malformed or of an unsupported kind.
    #[error("tee-pubkey: {0}")]
    TeePubKey(String),
    /// Init-data is malformed or names an unsupported algorithm.
    #[error("init-data: {0}")]
    InitData(String),
    /// A TEE name is not one remits knows.
    #[error("unknown TEE {0:?} (expected one of snp, az-snp-vtpm, tpm, sample)")]
    UnknownTee(String),
}
