//! Reference-value computation: predict, before deployment, the measurements a workload will
//! present — the SEV-SNP launch digest ([`launch`]) and the PCRs and ENCLAVE ID of a confidential
//! VM disk image, container image and enclave configuration ([`predict`]).
#![forbid(unsafe_code)]

// Entry points for fuzz/ and tests only: not a stable API (rustls' `internal` pattern).
#[doc(hidden)]
pub mod fuzzing;
pub mod launch;
pub mod predict;
