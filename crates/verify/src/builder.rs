//! [`AttestationServiceBuilder`]: an [`AttestationService`] from in-memory inputs only.
//!
//! The builder never touches the filesystem: trust anchors, policy text, the token signing key,
//! reference values, CRLs and manifest signer keys are all given as bytes or values.
//! [`AttestationService::new`] (a [`ServiceConfig`] naming files) reads the files and calls it.
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use p256::ecdsa::SigningKey;
use remits_evidence::clock::Clock;
use remits_manifest::signing::PublicKey;
use remits_policy::shipped;
use remits_store::Store;
use zeroize::Zeroizing;

use crate::config::CrlMode;
use crate::snp_crl::CrlSettings;
use crate::{AttestationService, Error};

/// A mandatory piece of an [`AttestationServiceBuilder`] that was not given
/// ([`Error::Missing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServicePart {
    /// The store (policies, reference values): [`AttestationServiceBuilder::store`].
    Store,
    /// The clock: [`AttestationServiceBuilder::clock`].
    Clock,
    /// The EAR token signing key: [`AttestationServiceBuilder::token_signing_key`],
    /// [`AttestationServiceBuilder::token_signing_key_pem`] or
    /// [`AttestationServiceBuilder::ephemeral_token_signing_key`].
    TokenSigningKey,
    /// The default attestation policy: [`AttestationServiceBuilder::production_policy`],
    /// [`AttestationServiceBuilder::development_policy`] or
    /// [`AttestationServiceBuilder::policy_text`].
    AttestationPolicy,
}

impl fmt::Display for ServicePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServicePart::Store => "store",
            ServicePart::Clock => "clock",
            ServicePart::TokenSigningKey => "token signing key",
            ServicePart::AttestationPolicy => "attestation policy",
        })
    }
}

/// The default attestation policy of a service.
#[derive(Debug, Clone)]
pub(crate) enum PolicySource {
    /// A shipped policy, by id (`default` or `development`).
    Shipped(&'static str),
    /// Rego text, loaded under policy id `default`; `label` names it in parse errors.
    Text { label: Option<String>, text: String },
}

/// An extra SNP root (DER or PEM bytes) and whether it is trusted for production.
struct Ark {
    label: String,
    bytes: Vec<u8>,
    production: bool,
}

/// Builds an [`AttestationService`] from in-memory inputs, with no filesystem access.
///
/// Mandatory ([`Error::Missing`] names the first one absent): a [`store`](Self::store), a
/// [`clock`](Self::clock), a [token signing key](Self::token_signing_key) and the default
/// attestation policy ([`production_policy`](Self::production_policy),
/// [`development_policy`](Self::development_policy) or [`policy_text`](Self::policy_text)).
///
/// Everything else fails closed when left unset: only AMD's production SNP roots are trusted
/// (a simulator or private root is trusted only when given to [`snp_ark`](Self::snp_ark)),
/// the unsigned `sample` TEE is refused, TPM quotes need an attestation key listed in the
/// reference values, and manifests are accepted unsigned only while no manifest signer is set.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use remits_verify::{AttestationServiceBuilder, Error, ServicePart};
///
/// # async fn demo() -> Result<(), Error> {
/// let key_pem = remits_verify::generate_signing_key_pem(&mut rand_core::OsRng)?.0;
/// let svc = AttestationServiceBuilder::new()
///     .store(Arc::new(remits_store::MemoryStore::new()))
///     .clock(Arc::new(remits_evidence::clock::SystemClock))
///     .token_signing_key_pem(&key_pem)?
///     .production_policy()
///     // Reference values as bytes (trustee sample form, RVPS message or remits form).
///     .reference_values(br#"{"snp_launch_measurement": ["7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f"]}"#.to_vec())
///     .build()
///     .await?;
/// assert_eq!(svc.issuer(), "remits-verify");
///
/// // A missing mandatory piece is named:
/// let err = AttestationServiceBuilder::new().production_policy().build().await;
/// assert!(matches!(err, Err(Error::Missing(ServicePart::Store))));
/// # Ok(())
/// # }
/// # tokio::runtime::Builder::new_current_thread().build().map_err(|e| Error::Internal(e.to_string()))?.block_on(demo())?;
/// # Ok::<(), Error>(())
/// ```
pub struct AttestationServiceBuilder {
    store: Option<Arc<dyn Store>>,
    clock: Option<Arc<dyn Clock>>,
    signing_key: Option<SigningKey>,
    policy: Option<PolicySource>,
    issuer: String,
    token_ttl: Duration,
    arks: Vec<Ark>,
    allow_sample: bool,
    tpm_allow_untrusted_ak: bool,
    reference_values: Vec<(Option<String>, Vec<u8>)>,
    manifest_signers: Vec<PublicKey>,
    crl: CrlSettings,
}

impl fmt::Debug for AttestationServiceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the signing key.
        f.debug_struct("AttestationServiceBuilder")
            .field("store", &self.store.is_some())
            .field("clock", &self.clock.is_some())
            .field("signing_key", &self.signing_key.is_some())
            .field("policy", &self.policy.is_some())
            .field("issuer", &self.issuer)
            .field("token_ttl", &self.token_ttl)
            .field("arks", &self.arks.len())
            .field("allow_sample", &self.allow_sample)
            .field("tpm_allow_untrusted_ak", &self.tpm_allow_untrusted_ak)
            .field("reference_values", &self.reference_values.len())
            .field("manifest_signers", &self.manifest_signers.len())
            .finish_non_exhaustive()
    }
}

impl Default for AttestationServiceBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// Longest accepted token lifetime (7 days).
const MAX_TOKEN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

impl AttestationServiceBuilder {
    /// An empty builder: nothing mandatory set, every option at its fail-closed default
    /// (issuer `remits-verify`, token lifetime 300 s, CRL check off).
    pub fn new() -> Self {
        AttestationServiceBuilder {
            store: None,
            clock: None,
            signing_key: None,
            policy: None,
            issuer: "remits-verify".into(),
            token_ttl: Duration::from_secs(300),
            arks: Vec::new(),
            allow_sample: false,
            tpm_allow_untrusted_ak: false,
            reference_values: Vec::new(),
            manifest_signers: Vec::new(),
            crl: CrlSettings::default(),
        }
    }

    /// The store holding policies and reference values (mandatory).
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The clock used for certificate validity, CRL freshness and token times (mandatory).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The EAR token signing key (mandatory, or [`Self::token_signing_key_pem`]).
    pub fn token_signing_key(mut self, key: SigningKey) -> Self {
        self.signing_key = Some(key);
        self
    }

    /// The EAR token signing key as PEM text (P-256, PKCS#8 or SEC1).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the text is not a P-256 private key in PEM.
    pub fn token_signing_key_pem(self, pem: &str) -> Result<Self, Error> {
        let pem = Zeroizing::new(pem.to_owned());
        Ok(self.token_signing_key(crate::load_signing_key(&pem)?))
    }

    /// A fresh random token signing key, held only in memory: tokens then verify only against
    /// this service ([`AttestationService::token_public_key`] publishes its public half).
    pub fn ephemeral_token_signing_key(self) -> Self {
        self.token_signing_key(SigningKey::random(&mut rand_core::OsRng))
    }

    /// Token issuer (`iss`). Default `remits-verify`.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// Token lifetime (`exp = iat + ttl`), 1 s..=7 days. Default 300 s.
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// Use the shipped strict production policy (policy id `default`) as default policy.
    pub fn production_policy(mut self) -> Self {
        self.policy = Some(PolicySource::Shipped(shipped::PRODUCTION_ID));
        self
    }

    /// Use the shipped development policy (policy id `development`; accepts debug guests).
    pub fn development_policy(mut self) -> Self {
        self.policy = Some(PolicySource::Shipped(shipped::DEVELOPMENT_ID));
        self
    }

    /// Use this Rego text as default policy, under policy id `default` (compiled at build).
    pub fn policy_text(mut self, rego: impl Into<String>) -> Self {
        self.policy = Some(PolicySource::Text {
            label: None,
            text: rego.into(),
        });
        self
    }

    /// Like [`Self::policy_text`], naming the text's origin (a file) in parse errors.
    pub(crate) fn policy_text_labeled(mut self, label: String, rego: String) -> Self {
        self.policy = Some(PolicySource::Text {
            label: Some(label),
            text: rego,
        });
        self
    }

    /// Trust an extra SNP root (an ARK certificate, DER or PEM), e.g. the remits simulator's.
    /// Reports chaining to it verify with claims `amd_root = false` and
    /// `production_root = false`: the shipped production policy denies them.
    pub fn snp_ark(self, ark: impl Into<Vec<u8>>) -> Self {
        let label = format!("snp ark #{}", self.arks.len() + 1);
        self.snp_ark_labeled(label, ark.into(), false)
    }

    /// Trust an extra SNP root for production (a private AMD-compatible root an operator
    /// vouches for): claim `production_root = true`. Never a development or simulator root.
    pub fn snp_production_ark(self, ark: impl Into<Vec<u8>>) -> Self {
        let label = format!("snp ark #{}", self.arks.len() + 1);
        self.snp_ark_labeled(label, ark.into(), true)
    }

    pub(crate) fn snp_ark_labeled(
        mut self,
        label: String,
        bytes: Vec<u8>,
        production: bool,
    ) -> Self {
        self.arks.push(Ark {
            label,
            bytes,
            production,
        });
        self
    }

    /// Accept the unsigned `sample` TEE. Default false.
    pub fn allow_sample(mut self, allow: bool) -> Self {
        self.allow_sample = allow;
        self
    }

    /// Accept TPM quotes whose attestation key is not in the reference values `trusted_aks`,
    /// leaving the decision to the policy (claim `tpm.ak_trusted`). Default false.
    pub fn tpm_allow_untrusted_ak(mut self, allow: bool) -> Self {
        self.tpm_allow_untrusted_ak = allow;
        self
    }

    /// Reference values to register at build (trustee sample form, RVPS message or remits
    /// form, as [`AttestationService::register_reference_values`] takes them).
    pub fn reference_values(mut self, json: impl Into<Vec<u8>>) -> Self {
        self.reference_values.push((None, json.into()));
        self
    }

    pub(crate) fn reference_values_labeled(mut self, label: String, json: Vec<u8>) -> Self {
        self.reference_values.push((Some(label), json));
        self
    }

    /// A public key whose signed `remits-measure` manifests are accepted as reference values
    /// ([`AttestationService::register_manifest`]). Once one is set, unsigned manifests are
    /// refused.
    pub fn manifest_signer(mut self, key: PublicKey) -> Self {
        self.manifest_signers.push(key);
        self
    }

    /// A manifest signer public key as SPKI PEM text (Ed25519 or P-384).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the text is not such a key.
    pub fn manifest_signer_pem(self, pem: &str) -> Result<Self, Error> {
        let key =
            PublicKey::from_pem(pem).map_err(|e| Error::Config(format!("manifest signer: {e}")))?;
        Ok(self.manifest_signer(key))
    }

    /// How SNP chains are checked against AMD's CRLs. Default [`CrlMode::Off`];
    /// [`CrlMode::FailClosed`] needs a CRL ([`Self::snp_vcek_crl`], [`Self::snp_vlek_crl`]).
    pub fn snp_crl_check(mut self, mode: CrlMode) -> Self {
        self.crl.mode = mode;
        self
    }

    /// Maximum CRL age: a CRL whose thisUpdate is older is stale. Default: only nextUpdate.
    pub fn snp_crl_max_age(mut self, age: Duration) -> Self {
        self.crl.max_age = Some(age);
        self
    }

    /// An AMD VCEK CRL (DER or PEM; it revokes ASKs), checked under a trusted ARK at build.
    pub fn snp_vcek_crl(mut self, crl: impl Into<Vec<u8>>) -> Self {
        let label = format!("vcek crl #{}", self.crl.vcek.len() + 1);
        self.crl.vcek.push((label, crl.into()));
        self
    }

    /// An AMD VLEK CRL (DER or PEM; it revokes ASVKs), checked under a trusted ARK at build.
    pub fn snp_vlek_crl(mut self, crl: impl Into<Vec<u8>>) -> Self {
        let label = format!("vlek crl #{}", self.crl.vlek.len() + 1);
        self.crl.vlek.push((label, crl.into()));
        self
    }

    /// The CRL settings in full (the file-based path sets labels and the KDS fetch).
    pub(crate) fn crl_settings(mut self, crl: CrlSettings) -> Self {
        self.crl = crl;
        self
    }

    /// Build the service: compile the policy, load the trust anchors and CRLs, register the
    /// reference values.
    ///
    /// # Errors
    ///
    /// - [`Error::Missing`] naming the first mandatory piece not given;
    /// - [`Error::Config`] for a bad token lifetime or issuer, an ARK or CRL that does not
    ///   parse or verify, or CRL settings that cannot work (fail-closed without any CRL);
    /// - [`Error::Policy`] when the policy text does not compile;
    /// - [`Error::ReferenceValues`] when reference values are malformed;
    /// - [`Error::Store`] when the store fails.
    pub async fn build(self) -> Result<AttestationService, Error> {
        let store = self.store.ok_or(Error::Missing(ServicePart::Store))?;
        let clock = self.clock.ok_or(Error::Missing(ServicePart::Clock))?;
        let key = self
            .signing_key
            .ok_or(Error::Missing(ServicePart::TokenSigningKey))?;
        let policy = self
            .policy
            .ok_or(Error::Missing(ServicePart::AttestationPolicy))?;
        if self.token_ttl.is_zero() || self.token_ttl > MAX_TOKEN_TTL {
            return Err(Error::Config("token ttl must be 1 s..=7 days".into()));
        }
        if self.issuer.is_empty() {
            return Err(Error::Config("issuer must not be empty".into()));
        }
        let arks = self
            .arks
            .into_iter()
            .map(|a| (a.label, a.bytes, a.production))
            .collect();
        let svc = AttestationService::assemble(crate::service::Parts {
            store,
            clock,
            key,
            policy,
            issuer: self.issuer,
            token_ttl: self.token_ttl,
            arks,
            allow_sample: self.allow_sample,
            tpm_allow_untrusted_ak: self.tpm_allow_untrusted_ak,
            manifest_signers: self.manifest_signers,
            crl: self.crl,
        })
        .await?;
        for (label, bytes) in self.reference_values {
            svc.register_reference_values(&bytes)
                .await
                .map_err(|e| match (e, &label) {
                    (Error::ReferenceValues(m), Some(l)) => {
                        Error::ReferenceValues(format!("{l}: {m}"))
                    }
                    (other, _) => other,
                })?;
        }
        Ok(svc)
    }
}
