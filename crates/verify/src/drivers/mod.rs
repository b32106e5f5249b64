//! The built-in drivers.
pub mod sample;
pub mod snp;
pub mod snp_trustee;
