//! The measurement manifest and what a verifier needs of it: the ENCLAVE ID ([`enclave_id`]),
//! the manifest format ([`manifest`]) with its events and PCR replay ([`events`]), and manifest
//! signing and verification ([`signing`]).
//!
//! `remits-measure` builds manifests (it predicts the PCRs from a disk image, a container image
//! and an enclave configuration) and re-exports this crate's items under its `predict` paths;
//! `remits-verify` checks manifests and computes ENCLAVE IDs with this crate alone, without the
//! image parsers. The formats are documented byte for byte in `docs/measurements.md`.
#![forbid(unsafe_code)]

pub mod enclave_id;
mod error;
pub mod events;
pub mod fuzzing;
pub mod manifest;
pub mod signing;

pub use error::Error;
