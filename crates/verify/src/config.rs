//! Service configuration (TOML).
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Which attestation policy applies when a request names none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PolicyChoice {
    /// The shipped strict production policy (policy id `default`).
    #[default]
    Production,
    /// The shipped development policy (policy id `development`). Accepts debug guests.
    Development,
    /// A Rego file, loaded under policy id `default`.
    File(PathBuf),
}

/// Configuration of an [`crate::AttestationService`]. Every field has a safe default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// EAR token signing key: a P-256 private key in PEM (PKCS#8 or SEC1). `None`: a fresh key
    /// is generated at start (tokens then verify only against this process).
    pub token_signing_key: Option<PathBuf>,
    /// Token lifetime in seconds (`exp = iat + ttl`). Default 300.
    pub token_ttl_secs: u64,
    /// Token issuer (`iss`). Default `remits-verify`.
    pub issuer: String,
    /// Extra SNP roots (ARK certificates, DER or PEM) trusted besides AMD's, e.g. the remits
    /// simulator's. Reports chaining to them verify, with claims `amd_root = false` and
    /// `production_root = false`: the shipped production policy denies them.
    pub snp_extra_arks: Vec<PathBuf>,
    /// Extra SNP roots that are also trusted for production (a private AMD-compatible root
    /// an operator vouches for): claim `production_root = true`. Never put a development or
    /// simulator root here.
    pub snp_production_arks: Vec<PathBuf>,
    /// Accept the unsigned `sample` TEE. Default false: sample evidence is refused.
    pub allow_sample: bool,
    /// The attestation policy. Default: the shipped production policy.
    pub attestation_policy: PolicyChoice,
    /// Reference-value files (trustee sample form or remits form) loaded at start.
    pub reference_values: Vec<PathBuf>,
    /// Accept TPM quotes whose attestation key is not in the reference values `trusted_aks`,
    /// leaving the decision to the policy (claim `tpm.ak_trusted`). Default false: such
    /// quotes are rejected before the policy runs.
    pub tpm_allow_untrusted_ak: bool,
    /// Public keys (PEM) whose signed `remits-measure` manifests are accepted as reference
    /// values. When set, unsigned manifests are refused.
    pub manifest_signers: Vec<PathBuf>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            token_signing_key: None,
            token_ttl_secs: 300,
            issuer: "remits-verify".into(),
            snp_extra_arks: Vec::new(),
            snp_production_arks: Vec::new(),
            allow_sample: false,
            attestation_policy: PolicyChoice::Production,
            reference_values: Vec::new(),
            tpm_allow_untrusted_ak: false,
            manifest_signers: Vec::new(),
        }
    }
}

impl ServiceConfig {
    /// Parse TOML; unknown keys are errors.
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        let c: ServiceConfig = toml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        if c.token_ttl_secs == 0 || c.token_ttl_secs > 7 * 24 * 3600 {
            return Err(Error::Config("token_ttl_secs must be 1..=604800".into()));
        }
        if c.issuer.is_empty() {
            return Err(Error::Config("issuer must not be empty".into()));
        }
        Ok(c)
    }
}
