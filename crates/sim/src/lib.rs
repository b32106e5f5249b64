//! Clearly-labelled SEV-SNP simulator: a generated test ARK/ASK/VCEK chain and reports signed by it.
//!
//! Development and tests need SNP evidence without AMD hardware. This crate generates a chain in
//! AMD's certificate profile (RSA-PSS SHA-384 links, AMD extensions on the VCEK, serial 0) whose
//! every name says `O=remits simulator - NOT AMD`, writes it to a directory (what
//! `remits-broker serve --dev` does under `<data-dir>/sim/`), and signs version-3 reports with
//! the simulated VCEK. [`SimSnpAttester`] puts that behind the
//! [`remits_evidence::attester::Attester`] seam with `"simulated": true` in every output.
//!
//! A verifier trusts these reports only when the simulator's ARK is given to it explicitly
//! (`remits_snp::TrustAnchors::amd().with_ark(chain.ark_der())`); AMD's pinned roots alone
//! reject them.
//!
//! ```no_run
//! # fn main() -> Result<(), remits_sim::SimError> {
//! let chain = remits_sim::SimChain::generate(&mut rand::rngs::OsRng)?;
//! chain.write_to(std::path::Path::new("./remits-dev/sim"))?;
//! let attester = remits_sim::SimSnpAttester::load(std::path::Path::new("./remits-dev/sim"))?;
//! let evidence = attester.snp_evidence(&[0u8; 48])?;
//! assert!(evidence.simulated);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod attester;
mod certs;
mod chain;
mod crl;
mod error;
mod fsutil;
mod report;

pub use attester::SimSnpAttester;
pub use certs::SIM_ORGANIZATION;
pub use chain::{files, SimChain, SimGeneration, SimMeta, SimOptions, SimTcb};
pub use crl::{CrlSpec, SimArk};
pub use error::SimError;
pub use report::{ReportParams, REPORT_LEN, SIGNED_LEN};
