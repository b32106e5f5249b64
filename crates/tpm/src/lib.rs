//! TPM 2.0 quote verification, TCG event-log replay and Azure SNP vTPM evidence (pure Rust).
//!
//! * [`attest`], [`signature`], [`public`], [`pcr`]: strict parsers for TPMS_ATTEST,
//!   TPMT_SIGNATURE, TPM2B_PUBLIC and TPML_PCR_SELECTION; errors name the field and byte offset.
//! * [`quote::verify_quote`]: the quote checklist (signature, structure, nonce, PCR selection,
//!   PCR digest; restricted-signing attributes when the AK is a TPM2B_PUBLIC).
//! * [`eventlog`]: TCG PC Client event logs (crypto-agile and legacy SHA-1), typed events,
//!   replay per bank and comparison with quoted PCRs.
//! * [`azure`]: the HCL report and the full Azure SNP vTPM binding, trustee evidence v0/v1/v2.
//! * [`key`] (the attestation key: SPKI, TPM2B_PUBLIC or Azure's JWK), [`alg`] (hash
//!   algorithms), [`error`] (the one error type, naming the field or check) and `fuzzing`
//!   (entry points for the fuzz targets).
//!
//! trustee's `tpm` evidence JSON (with remits extensions) is parsed and appraised by
//! `remits-verify`'s TPM driver, on top of these parsers. See `docs/tpm.md`.
#![forbid(unsafe_code)]

pub mod alg;
pub mod attest;
pub mod azure;
mod cursor;
pub mod error;
pub mod eventlog;
pub mod fuzzing;
pub mod key;
pub mod pcr;
pub mod public;
pub mod quote;
pub mod signature;

pub use alg::HashAlg;
pub use attest::Attest;
pub use error::Error;
pub use eventlog::{replay, EventLog};
pub use key::AttestationKey;
pub use pcr::{PcrSelection, PcrValues};
pub use public::TpmPublic;
pub use quote::{verify_quote, NonceCheck, VerifiedQuote};
pub use signature::Signature;
