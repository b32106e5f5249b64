//! Test-only helpers shared by remits' tests, examples and benchmarks (`publish = false`, used
//! only as a dev-dependency). Standard library only, so any crate can use it without a cycle.
//!
//! - [`testdata`]: where the shared real-hardware test vectors are (skip, or fail under `CI`).
//! - [`net`]: free loopback ports and raw HTTP/1.1 requests (no client library, no runtime).
//! - [`process`]: a child process killed on drop, started and waited for until it answers.
//! - [`broker`]: `remits-broker serve` / `admin` command lines as the tests run them.
//! - [`swtpm`]: a software TPM on loopback for tpm2-tools and the TPM attester.
#![forbid(unsafe_code)]
// Test support: a failed start-up or a malformed answer ends the test with a panic that says
// what went wrong, which is how a test reports it; there is no caller to hand an error to.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::missing_errors_doc
)]

pub mod broker;
pub mod net;
pub mod process;
pub mod swtpm;
pub mod testdata;

/// A test that cannot run here: prints `SKIPPED: msg` (stderr) and returns, or panics when the
/// environment variable `CI` is set, so that CI never passes by skipping.
///
/// # Panics
/// When `CI` is set.
pub fn skip(msg: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{msg}; CI is set, so this is a failure");
    }
    eprintln!("SKIPPED: {msg}");
}
