//! AMD SEV-SNP attestation report parsing and VCEK/VLEK endorsement-chain verification.
//!
//! - [`Report`]: a zero-copy view over the received 1184 bytes (versions 2, 3, 4, 5).
//! - [`Verifier`]: checks the report against AMD's pinned ARK → ASK/ASVK → VCEK/VLEK chain
//!   (or an explicitly trusted root), AMD's certificate extensions, and the report signature over
//!   the exact received bytes. Verified chains are cached, so a repeated verification costs about
//!   one P-384 signature check.
//! - [`backend`]: the signature seam; RustCrypto by default, aws-lc-rs with feature `aws-lc`.
//!
//! ```no_run
//! use remits_snp::{Endorsement, TrustAnchors, Verifier, VerifyOptions};
//! # fn main() -> Result<(), remits_snp::Error> {
//! let report = std::fs::read("report.bin").unwrap();
//! let vcek = std::fs::read("vcek.der").unwrap();
//! let verifier = Verifier::new(TrustAnchors::amd());
//! let verified = verifier.verify(&report, &Endorsement::leaf(vcek), &VerifyOptions::default())?;
//! println!("measurement {}", hex::encode(&verified.claims().measurement));
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod anchors;
pub mod backend;
pub mod cert;
mod claims;
mod crl;
mod error;
// Entry points for fuzz/ and tests only: not a stable API (rustls' `internal` pattern).
#[doc(hidden)]
pub mod fuzzing;
mod generation;
mod hexser;
#[cfg(feature = "kds")]
pub mod kds;
pub mod report;
mod verify;

pub use anchors::{TrustAnchors, AMD_ARK_SHA256};
pub use claims::{PlatformInfoClaims, PolicyClaims, SnpClaims};
pub use crl::{CrlCheck, CrlInfo, CrlKind};
pub use error::{CertRole, Error};
pub use generation::Generation;
pub use report::{
    Cpuid, FirmwareVersion, KeyInfo, PlatformInfo, Policy, Report, Signer, TcbVersion,
};
pub use verify::{Endorsement, VerifiedReport, Verifier, VerifyOptions};
