//! AMD SEV/SEV-ES **pre-launch** attestation, from the guest owner's side.
//!
//! Before an SEV or SEV-ES guest runs, its owner:
//! 1. verifies the platform's certificate chain up to AMD's pinned ARK/ASK
//!    ([`PlatformChain::verify`] → [`VerifiedPlatform`]);
//! 2. starts a launch session with the verified PDH ([`start_session`] → the GODH certificate
//!    and session blob QEMU's `sev-guest` object takes, and the secret [`TransportKeys`]);
//! 3. checks the launch measurement the platform reports through the hypervisor against the
//!    expected launch digest ([`verify_measurement`] → [`VerifiedLaunch`]);
//! 4. only then builds the launch-secret packet ([`VerifiedLaunch::secret_packet`]) carrying an
//!    EFI secret [`table`], which the hypervisor injects with `sev-inject-launch-secret`.
//!
//! The types enforce the order: a session needs a `VerifiedPlatform`, a secret packet needs a
//! `VerifiedLaunch`, and both are built only by their verifiers. No HTTP, no files: the
//! broker and the CLI are thin layers over this crate. [`sim`] holds a clearly labelled
//! simulated platform for tests.
//!
//! ```
//! use remits_sev::{Generation, PlatformChain, RootChoice};
//! # fn main() -> Result<(), remits_sev::Error> {
//! // AMD's built-in roots verify (pinned by SHA-256).
//! let roots = Generation::Milan.roots()?;
//! assert_eq!(roots.generation(), Some(Generation::Milan));
//! # Ok(()) }
//! ```

mod amd_cert;
mod builtin;
mod chain;
mod error;
// Entry points for fuzz/ and tests only: not a stable API (rustls' `internal` pattern).
#[doc(hidden)]
pub mod fuzzing;
mod kdf;
mod measurement;
mod rsa_pss;
mod session;
mod sev_cert;
pub mod sim;
pub mod table;

pub use amd_cert::AmdCert;
pub use builtin::{AmdRoots, Generation};
pub use chain::{PlatformChain, RootChoice, VerifiedPlatform};
pub use error::{CertName, Error, Link, Result};
pub use measurement::{
    compute_measure, verify_measurement, LaunchMeasurement, PlatformBuild, SecretPacket,
    VerifiedLaunch, PACKET_HEADER_LEN,
};
pub use session::{
    start_session, LaunchPolicy, LaunchStart, SessionBlob, TransportKeys, SESSION_BLOB_LEN,
};
pub use sev_cert::{algo, usage, SevCert, SEV_CERT_LEN};
