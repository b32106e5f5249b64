//! Rego policy evaluation (regorus) with reference-value lookups and explanations.
//!
//! * [`PolicyEngine`] parses each policy once and caches the compiled engine keyed by policy id
//!   and SHA-256 of the policy text, so a changed policy takes effect on the next evaluation
//!   without a restart, and an unchanged one is never re-parsed.
//! * Attestation policies follow trustee's conventions (`data.policy.trust_claims`, AR4SI
//!   integers, `query_reference_value(name)`); remits' shipped policies additionally emit
//!   `data.policy.checks`, which [`Explanation`] turns into "which claim had which value and
//!   what was expected".
//! * Resource policies are `data.policy.allow` over the token claims.
#![forbid(unsafe_code)]

mod engine;
mod error;
mod explain;
pub mod refvalues;
pub mod shipped;

pub use engine::{AttestationOutcome, PolicyEngine, ResourceDecision, MAX_POLICY_LEN};
pub use error::Error;
pub use explain::{Check, EarStatus, Explanation, TrustVector, TRUST_CLAIM_NAMES};
pub use refvalues::ReferenceValues;
