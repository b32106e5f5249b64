//! The ENCLAVE ID (version 1): re-exported from `remits_manifest::enclave_id`, where it is
//! defined (remits-verify computes it from quoted PCRs without this crate).

pub use remits_manifest::enclave_id::{enclave_id_v1, PCRS_V1, VERSION};
