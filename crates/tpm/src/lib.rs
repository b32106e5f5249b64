//! TPM 2.0 quote verification, TCG event-log replay and Azure SNP vTPM evidence (pure Rust).
//!
//! * [`Attest`], [`Signature`], [`TpmPublic`], [`PcrSelection`]: strict parsers for TPMS_ATTEST,
//!   TPMT_SIGNATURE, TPM2B_PUBLIC and TPML_PCR_SELECTION; errors name the field and byte offset.
//! * [`verify_quote`]: the quote checklist (signature, structure, nonce, PCR selection,
//!   PCR digest; restricted-signing attributes when the AK is a TPM2B_PUBLIC).
//! * [`EventLog`] and [`replay`]: TCG PC Client event logs (crypto-agile and legacy SHA-1),
//!   typed events, replay per bank and comparison with quoted PCRs.
//! * [`azure`]: the HCL report and the full Azure SNP vTPM binding, trustee evidence v0/v1/v2.
//! * [`AttestationKey`] (SPKI, TPM2B_PUBLIC or Azure's JWK), [`HashAlg`] (hash algorithms),
//!   [`Error`] (the one error type, naming the field or check) and `fuzzing` (entry points for
//!   the fuzz targets).
//!
//! trustee's `tpm` evidence JSON (with remits extensions) is parsed and appraised by
//! `remits-verify`'s TPM driver, on top of these parsers. See `docs/tpm.md`.
#![forbid(unsafe_code)]

mod alg;
mod attest;
pub mod azure;
mod cursor;
mod error;
mod eventlog;
// Entry points for fuzz/ and tests only: not a stable API (rustls' `internal` pattern).
#[doc(hidden)]
pub mod fuzzing;
mod key;
mod pcr;
mod public;
mod quote;
mod signature;

pub use alg::HashAlg;
pub use attest::{Attest, ClockInfo, QuoteInfo, TPM_GENERATED_VALUE};
pub use error::Error;
pub use eventlog::{
    replay, CompareMode, Event, EventData, EventLog, EventSummary, GptPartition, LogFormat, Replay,
    SpecAlgorithm, EV_NO_ACTION,
};
pub use key::{AkDescription, AttestationKey};
pub use pcr::{PcrSelection, PcrValues};
pub use public::{KeyScheme, PublicKey, PublicSummary, TpmPublic};
pub use quote::{verify_quote, NonceCheck, VerifiedQuote};
pub use signature::{SigScheme, Signature};
