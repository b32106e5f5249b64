//! Policies shipped with remits (embedded at compile time). See `docs/policy.md`.

/// Policy id of the strict production attestation policy (the default).
pub const PRODUCTION_ID: &str = "default";
/// The strict production attestation policy: no debug, no migration agent, VMPL 0, minimum
/// TCB per generation, measurement or trusted signer in the reference values, trusted AK
/// for TPM, sample TEE refused.
pub const PRODUCTION: &str = include_str!("../policies/production.rego");

/// Policy id of the development attestation policy.
pub const DEVELOPMENT_ID: &str = "development";
/// The development attestation policy: debug guests, any TCB and the sample TEE are accepted.
/// Never loaded unless selected explicitly.
pub const DEVELOPMENT: &str = include_str!("../policies/development.rego");

/// Policy id of the default resource policy.
pub const RESOURCE_AFFIRMING_ID: &str = "resource-affirming";
/// The default resource policy: every submodule affirming, no sample evidence.
pub const RESOURCE_AFFIRMING: &str = include_str!("../policies/resource_affirming.rego");
