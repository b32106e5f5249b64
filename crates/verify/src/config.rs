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
    /// How SNP chains are checked against AMD's CRLs: `off` (default), `fail-open` (a listed
    /// ASK/ASVK/leaf is denied; no or a stale CRL passes) or `fail-closed` (a fresh CRL of the
    /// chain's ARK and path is required; production recommendation). See docs/broker.md.
    pub snp_crl_check: CrlMode,
    /// AMD VCEK CRLs (DER or PEM, `/vcek/v1/<Product>/crl`: they revoke ASKs) loaded at start.
    /// A file that does not verify under a trusted ARK refuses the start.
    pub snp_vcek_crl_files: Vec<PathBuf>,
    /// AMD VLEK CRLs (`/vlek/v1/<Product>/crl`: they revoke ASVKs) loaded at start.
    pub snp_vlek_crl_files: Vec<PathBuf>,
    /// Maximum CRL age in seconds: a CRL whose thisUpdate is older is stale even when its
    /// nextUpdate is absent or later. Unset: only nextUpdate decides.
    pub snp_crl_max_age_secs: Option<u64>,
    /// Fetch AMD's VCEK and VLEK CRLs of every product from the KDS (build feature `kds`): at
    /// start from the cache directory, then from the KDS in the background, and again every
    /// `snp_crl_refresh_secs`. Never on a request's path.
    pub snp_crl_fetch: bool,
    /// Seconds between background CRL fetches (60..=604800, default 3600).
    pub snp_crl_refresh_secs: u64,
    /// The KDS cache directory (CRLs are kept as `<Product>/crl.der` and
    /// `<Product>/vlek_crl.der`). Unset: fetched CRLs are held in memory only.
    pub snp_kds_cache_dir: Option<PathBuf>,
    /// The KDS base URL. Default `https://kdsintf.amd.com`.
    pub snp_kds_url: Option<String>,
}

/// [`ServiceConfig::snp_crl_check`] in TOML (`off`, `fail-open`, `fail-closed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CrlMode {
    /// No CRL check.
    #[default]
    Off,
    /// Revocations listed in a held CRL deny; a missing or stale CRL passes.
    FailOpen,
    /// A fresh CRL for the chain's ARK and path (VCEK or VLEK) is required.
    FailClosed,
}

impl From<CrlMode> for remits_snp::CrlCheck {
    fn from(m: CrlMode) -> Self {
        match m {
            CrlMode::Off => remits_snp::CrlCheck::Off,
            CrlMode::FailOpen => remits_snp::CrlCheck::FailOpen,
            CrlMode::FailClosed => remits_snp::CrlCheck::FailClosed,
        }
    }
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
            snp_crl_check: CrlMode::Off,
            snp_vcek_crl_files: Vec::new(),
            snp_vlek_crl_files: Vec::new(),
            snp_crl_max_age_secs: None,
            snp_crl_fetch: false,
            snp_crl_refresh_secs: 3600,
            snp_kds_cache_dir: None,
            snp_kds_url: None,
        }
    }
}

impl ServiceConfig {
    /// Parse TOML; unknown keys are errors.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for TOML that does not parse (position and reason only), an unknown key, a
    /// token lifetime outside 1..=604800 s, an empty issuer, or CRL settings
    /// [`ServiceConfig::validate_crl`] refuses.
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        // Position and reason only, never the file's text (it may be a secret given by mistake).
        let c: ServiceConfig = toml::from_str(text)
            .map_err(|e| Error::Config(remits_evidence::parse_error::toml(&e, text)))?;
        if c.token_ttl_secs == 0 || c.token_ttl_secs > 7 * 24 * 3600 {
            return Err(Error::Config("token_ttl_secs must be 1..=604800".into()));
        }
        if c.issuer.is_empty() {
            return Err(Error::Config("issuer must not be empty".into()));
        }
        c.validate_crl()?;
        Ok(c)
    }

    /// Check the CRL settings (also done when a service is built from this config).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a refresh interval outside 60..=604800 s, a zero maximum age,
    /// `snp_crl_fetch` without feature `kds`, or `fail-closed` without any CRL source.
    pub fn validate_crl(&self) -> Result<(), Error> {
        if !(60..=7 * 24 * 3600).contains(&self.snp_crl_refresh_secs) {
            return Err(Error::Config(
                "snp_crl_refresh_secs must be 60..=604800".into(),
            ));
        }
        if self.snp_crl_max_age_secs == Some(0) {
            return Err(Error::Config(
                "snp_crl_max_age_secs must be at least 1 (leave it unset for no maximum)".into(),
            ));
        }
        if self.snp_crl_fetch && !cfg!(feature = "kds") {
            return Err(Error::Config(
                "snp_crl_fetch needs remits-verify built with feature `kds`".into(),
            ));
        }
        let sources = self.snp_crl_fetch
            || !self.snp_vcek_crl_files.is_empty()
            || !self.snp_vlek_crl_files.is_empty();
        if self.snp_crl_check == CrlMode::FailClosed && !sources {
            return Err(Error::Config(
                "snp_crl_check = \"fail-closed\" needs snp_vcek_crl_files, snp_vlek_crl_files \
                 or snp_crl_fetch: without a CRL every SNP attestation would be denied"
                    .into(),
            ));
        }
        Ok(())
    }
}
