//! The built-in drivers.
pub mod az;
pub mod sample;
pub mod snp;
pub mod snp_trustee;
pub mod tpm;
