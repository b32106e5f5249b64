//! Verifier composition: per-TEE drivers, runtime-data binding, reference values, Rego policy
//! and EAR tokens.
//!
//! [`AttestationService`] is the one entry point used by `remits-verifier` and the broker:
//! evidence (any registered TEE) + the expected binding + optional init-data → verified claims →
//! policy (with `query_reference_value`) → an ES256 EAR token and an [`remits_policy::Explanation`].
#![forbid(unsafe_code)]

pub mod binding;
mod builder;
mod config;
pub mod driver;
pub mod drivers;
mod error;
// Entry points for fuzz/ and tests only: not a stable API (rustls' `internal` pattern).
#[doc(hidden)]
pub mod fuzzing;
pub mod refvalues;
mod service;
mod snp_crl;
pub mod token;

pub use binding::{Binding, ReportDataCheck};
pub use builder::{AttestationServiceBuilder, ServicePart};
pub use config::{CrlMode, PolicyChoice, ServiceConfig};
pub use driver::{DriverOutput, Drivers, Expected, TeeDriver};
pub use error::{Error, EvidenceError};
pub use remits_policy::{EarStatus, Explanation};
pub use service::{
    generate_signing_key_pem, load_signing_key, AttestationRequest, AttestationService, Attested,
    Decision, SevAppraisal, PER_RESOURCE_POLICY_PREFIX, RESOURCE_POLICY_KEY, SEV_LAUNCH_BINDING,
};
