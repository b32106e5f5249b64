//! CoCo KBS protocol (v0, protocol version 0.4.0): message types, JWE, the client and the
//! server core used by `remits-broker`.
//!
//! - [`protocol`]: `kbs-types` messages, constants, trustee's resource-path rules.
//! - [`keyprovider`]: the ocicrypt key-provider protocol and CoCo's annotation packet.
//! - [`jwe`]: `ECDH-ES+A256KW` (P-256, P-521) and `RSA-OAEP-256` with `A256GCM`.
//! - [`session`]: `Challenged` → `Attested` session states.
//! - [`admin`]: admin JWTs (EdDSA / ES256) for the admin API.
//! - [`backend`]: the attestation/policy seam ([`backend::AttestationBackend`]).
//! - [`server`]: the axum router and listener (plain or TLS).
//! - [`client`]: [`client::KbsClient`] and [`client::AdminClient`].
//! - [`config`] / [`assemble`]: the broker's TOML configuration and start-up.
//! - [`verify_backend`]: the backend over `remits_verify::AttestationService`.
#![forbid(unsafe_code)]

pub mod admin;
pub mod assemble;
pub mod backend;
pub mod client;
pub mod config;
pub mod error;
pub mod fuzzing;
pub mod jwe;
pub mod keyprovider;
pub mod protocol;
pub mod rng;
pub mod server;
pub mod session;
pub mod verify_backend;

pub use error::{Compat, KbsError};
