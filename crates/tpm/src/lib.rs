//! TPM 2.0 quote verification, TCG event-log replay and Azure SNP vTPM evidence (pure Rust).
//!
//! * [`attest`], [`signature`], [`public`], [`pcr`]: strict parsers for TPMS_ATTEST,
//!   TPMT_SIGNATURE, TPM2B_PUBLIC and TPML_PCR_SELECTION; errors name the field and byte offset.
//! * [`quote::verify_quote`]: the quote checklist (signature, structure, nonce, PCR selection,
//!   PCR digest; restricted-signing attributes when the AK is a TPM2B_PUBLIC).
//! * [`eventlog`]: TCG PC Client event logs (crypto-agile and legacy SHA-1), typed events,
//!   replay per bank and comparison with quoted PCRs.
//! * [`azure`]: the HCL report and the full Azure SNP vTPM binding, trustee evidence v0/v1/v2.
//! * [`evidence`]: trustee's `tpm` evidence JSON (with remits extensions) and its verification.
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
