//! CoCo KBS protocol (v0, protocol version 0.4.0): message types, JWE, the client and the
//! server core used by `remits-broker`.
//!
//! - protocol constants ([`PROTOCOL_VERSION`], [`API_PREFIX`], ...), the error body
//!   ([`ErrorInformation`]) and trustee's resource-path rules ([`ResourcePath`]).
//! - [`keyprovider`]: the ocicrypt key-provider protocol and CoCo's annotation packet.
//! - [`jwe`]: `ECDH-ES+A256KW` (P-256, P-521) and `RSA-OAEP-256` with `A256GCM`.
//! - sessions move from `Challenged` to `Attested` (private; see `docs/broker.md`).
//! - [`admin`]: admin JWTs (EdDSA / ES256) for the admin API.
//! - [`backend`]: the attestation/policy seam ([`backend::AttestationBackend`]).
//! - [`server`]: the axum router and listener (plain or TLS).
//! - [`client`]: [`client::KbsClient`] and [`client::AdminClient`].
//! - [`config`] / [`assemble`]: the broker's TOML configuration and start-up.
//! - [`VerifyBackend`]: the backend over `remits_verify::AttestationService`.
//! - [`RandomSource`] ([`OsRandom`], [`SeededRandom`]): injected randomness.
#![forbid(unsafe_code)]

pub mod admin;
pub mod assemble;
pub mod backend;
pub mod client;
pub mod config;
pub mod error;
// Entry points for fuzz/ and tests only: not a stable API (rustls' `internal` pattern).
#[doc(hidden)]
pub mod fuzzing;
pub mod jwe;
pub mod keyprovider;
mod protocol;
mod rng;
pub mod server;
mod session;
mod verify_backend;

pub use error::{Compat, KbsError};
pub use protocol::{
    AttestationToken, ErrorInformation, PathError, ResourcePath, API_PREFIX, ERROR_TYPE_PREFIX,
    MAX_SEGMENT_LEN, PROTOCOL_VERSION, SESSION_COOKIE,
};
pub use rng::{OsRandom, RandomSource, Rng, SeededRandom};
pub use verify_backend::VerifyBackend;
