//! Reference-value computation: predict, before deployment, the measurements a workload will
//! present — the SEV-SNP launch digest ([`launch`]) and the PCRs and ENCLAVE ID of a confidential
//! VM disk image, container image and enclave configuration ([`predict`]).
#![forbid(unsafe_code)]

pub mod fuzzing;
pub mod launch;
pub mod predict;
