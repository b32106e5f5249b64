//! The attestation service: drivers + binding + reference values + policy + EAR token.
use std::sync::{Arc, RwLock};
use std::time::Duration;

use p256::ecdsa::SigningKey;
use remits_evidence::binding::{sanitize_tee_pubkey, HashAlg};
use remits_evidence::clock::Clock;
use remits_evidence::initdata::InitData;
use remits_evidence::TeeKind;
use remits_policy::{shipped, EarStatus, Explanation, PolicyEngine, ResourceDecision};
use remits_store::{Namespace, ReadCache, Store};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use remits_manifest::signing::PublicKey;

use crate::binding::{Binding, ReportDataCheck};
use crate::builder::{AttestationServiceBuilder, PolicySource};
use crate::config::{PolicyChoice, ServiceConfig};
use crate::driver::{DriverOutput, Drivers, Expected, TeeDriver};
use crate::drivers::snp::{ProductionRoots, SnpDriver};
use crate::drivers::{az::AzSnpVtpmDriver, sample::SampleDriver, tpm::TpmDriver};
use crate::refvalues::{parse_registration, ReferenceValueStore};
use crate::snp_crl::CrlSettings;
use crate::token::{TokenSigner, TokenVerifier};
use crate::Error;

/// Key of the resource policy in `Namespace::ResourcePolicy`.
pub const RESOURCE_POLICY_KEY: &str = "default";

/// Prefix of per-resource policies in `Namespace::ResourcePolicy`: the policy stored at
/// `resource/<repo>/<type>/<tag>` must allow too, after the resource policy did (for example
/// the one a workload registration writes to release its secret to one measurement only).
pub const PER_RESOURCE_POLICY_PREFIX: &str = "resource/";

/// The binding kind recorded for an SEV pre-launch appraisal (`remits_binding.kind`): the
/// measurement is fresh because it is MACed with the TIK of a single-use launch session.
pub const SEV_LAUNCH_BINDING: &str = "sev-launch";

/// The outcome of an SEV pre-launch appraisal ([`AttestationService::appraise_sev_launch`]).
#[derive(Debug, Clone)]
#[must_use = "a verification result: use it (or bind it to `_` to drop it on purpose)"]
pub struct SevAppraisal {
    /// The appraisal status: only `Affirming` may release a launch secret.
    pub status: EarStatus,
    /// Why the policy decided so (failed checks are named).
    pub explanation: Explanation,
}

/// One attestation request (the KBS `Attestation` message, decoded).
#[derive(Debug, Clone)]
pub struct AttestationRequest {
    /// The TEE.
    pub tee: TeeKind,
    /// The primary evidence JSON.
    pub evidence: Value,
    /// What the evidence must be bound to (required; see [`Binding`]).
    pub binding: Binding,
    /// Init-data to bind; `None`: not checked (recorded in the token).
    pub init_data: Option<InitData>,
}

/// A successful appraisal.
#[derive(Debug, Clone)]
#[must_use = "a verification result: use it (or bind it to `_` to drop it on purpose)"]
pub struct Attested {
    /// The EAR token (ES256 JWT).
    pub token: String,
    /// The appraisal status (also inside the token).
    pub status: EarStatus,
    /// The token's claims.
    pub claims: Value,
    /// Why the policy decided so.
    pub explanation: Explanation,
    /// The binding that was checked (`runtime-data`, `report-data` or `unchecked`).
    pub binding: &'static str,
    /// Whether the report-data binding was compared with the evidence.
    pub report_data_checked: bool,
    /// Whether the init-data binding was checked.
    pub init_data_checked: bool,
}

/// A resource-policy decision.
pub type Decision = ResourceDecision;

/// The attestation service. `Send + Sync`; share it behind an `Arc`.
pub struct AttestationService {
    issuer: String,
    manifest_signers: Vec<PublicKey>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    drivers: RwLock<Drivers>,
    policy: PolicyEngine,
    default_policy_id: String,
    default_policy_text: Option<String>,
    signer: TokenSigner,
    token_verifier: TokenVerifier,
    rvs: Arc<ReferenceValueStore>,
    /// The stored text of the default attestation policy (`None`: not stored), cached until
    /// the store reports a change of the namespace.
    default_policy_cache: ReadCache<Option<String>>,
    /// The stored resource policy (`None`: not stored), cached likewise.
    resource_policy_cache: ReadCache<Option<String>>,
    /// Per-resource policies looked up since the namespace last changed (a fresh memo per
    /// change epoch), so a resource request costs no store read while nothing changes.
    per_resource_cache: ReadCache<PerResourceMemo>,
}

/// Most per-resource lookups (present or absent) remembered per change epoch; beyond it, reads
/// go to the store (bounded memory whatever paths are requested).
const PER_RESOURCE_MEMO_MAX: usize = 4096;

/// Per-resource policy texts by key (`None`: no policy stored), valid for one change epoch of
/// [`Namespace::ResourcePolicy`].
#[derive(Default)]
struct PerResourceMemo(std::sync::Mutex<std::collections::HashMap<String, Option<Arc<String>>>>);

impl PerResourceMemo {
    fn get(&self, key: &str) -> Option<Option<Arc<String>>> {
        self.0.lock().ok()?.get(key).cloned()
    }

    fn put(&self, key: &str, v: Option<Arc<String>>) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() < PER_RESOURCE_MEMO_MAX {
                m.insert(key.to_owned(), v);
            }
        }
    }
}

impl std::fmt::Debug for AttestationService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttestationService")
            .field("issuer", &self.issuer)
            .field("default_policy_id", &self.default_policy_id)
            .field("manifest_signers", &self.manifest_signers.len())
            .finish_non_exhaustive()
    }
}

/// The policy input (the token's annotated evidence) for a driver's output: the TEE's claims
/// under its name, report and init data, the runtime-data and init-data claims, and the binding.
pub(crate) fn annotated_input(
    tee: &str,
    out: DriverOutput,
    binding: &'static str,
    rd_claims: Value,
    id_claims: Value,
) -> Value {
    let mut tee_claims = out.claims;
    let report_data = tee_claims.remove("report_data").unwrap_or(Value::Null);
    let init_data = tee_claims.remove("init_data").unwrap_or(Value::Null);
    let mut annotated = Map::new();
    annotated.insert(tee.to_string(), Value::Object(tee_claims));
    annotated.insert("report_data".into(), report_data);
    annotated.insert("init_data".into(), init_data);
    annotated.insert("runtime_data_claims".into(), rd_claims);
    annotated.insert("init_data_claims".into(), id_claims);
    annotated.insert(
        "remits_binding".into(),
        json!({
            "kind": binding,
            "report_data_checked": out.report_data_checked,
            "init_data_checked": out.init_data_checked,
        }),
    );
    Value::Object(annotated)
}

/// A configured file (key, root, policy, reference values), read with a 16 MiB cap enforced
/// while reading.
fn read_config_file(p: &std::path::Path) -> Result<Vec<u8>, Error> {
    use remits_evidence::input::{read_capped, MAX_INPUT_FILE};
    read_capped(p, MAX_INPUT_FILE, "configured file").map_err(|e| Error::Config(e.to_string()))
}

fn read_config_text(p: &std::path::Path) -> Result<String, Error> {
    use remits_evidence::input::{read_capped_string, MAX_INPUT_FILE};
    read_capped_string(p, MAX_INPUT_FILE, "configured file")
        .map_err(|e| Error::Config(e.to_string()))
}

/// Load a P-256 signing key from PEM (PKCS#8 or SEC1).
///
/// # Errors
///
/// [`Error::Config`] when `pem` is not a P-256 private key (PKCS#8 or SEC1 PEM).
pub fn load_signing_key(pem: &str) -> Result<SigningKey, Error> {
    use p256::pkcs8::DecodePrivateKey;
    if let Ok(k) = SigningKey::from_pkcs8_pem(pem) {
        return Ok(k);
    }
    p256::SecretKey::from_sec1_pem(pem)
        .map(SigningKey::from)
        .map_err(|_| Error::Config("token signing key: not a P-256 PKCS#8 or SEC1 PEM key".into()))
}

/// A fresh token signing key (`token_signing_key`): a P-256 private key as PKCS#8 PEM, which
/// [`load_signing_key`] reads, and its public half as SubjectPublicKeyInfo PEM (for relying
/// parties that check EAR tokens offline). `remits-broker keygen token-key` writes them. The
/// private PEM is zeroized on drop.
///
/// # Errors
///
/// [`Error::Config`] when a PEM encoding fails.
pub fn generate_signing_key_pem(
    rng: &mut (impl rand_core::RngCore + rand_core::CryptoRng),
) -> Result<(Zeroizing<String>, String), Error> {
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let key = SigningKey::random(rng);
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| Error::Config(format!("token signing key: PKCS#8 encoding: {e}")))?;
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| Error::Config(format!("token signing key: SPKI encoding: {e}")))?;
    Ok((private, public))
}

/// What [`crate::AttestationServiceBuilder::build`] hands to [`AttestationService::assemble`].
pub(crate) struct Parts {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) key: SigningKey,
    pub(crate) policy: PolicySource,
    pub(crate) issuer: String,
    pub(crate) token_ttl: Duration,
    /// Extra SNP roots: label, DER or PEM bytes, trusted for production.
    pub(crate) arks: Vec<(String, Vec<u8>, bool)>,
    pub(crate) allow_sample: bool,
    pub(crate) tpm_allow_untrusted_ak: bool,
    pub(crate) manifest_signers: Vec<PublicKey>,
    pub(crate) crl: CrlSettings,
}

impl AttestationService {
    /// A builder taking every input in memory (no filesystem access); see
    /// [`AttestationServiceBuilder`].
    pub fn builder() -> AttestationServiceBuilder {
        AttestationServiceBuilder::new()
    }

    /// Build from configuration: reads the files it names (signing key, SNP trust anchors,
    /// policy, reference values, manifest signer keys, CRLs) and calls
    /// [`AttestationServiceBuilder`]. Without `token_signing_key` a fresh key is generated.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when a named file cannot be read or parsed, and what
    /// [`AttestationServiceBuilder::build`] returns.
    pub async fn new(
        cfg: ServiceConfig,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Error> {
        let key = match &cfg.token_signing_key {
            Some(p) => {
                let pem = Zeroizing::new(read_config_text(p)?);
                load_signing_key(&pem)?
            }
            None => SigningKey::random(&mut rand_core::OsRng),
        };
        Self::with_signing_key(cfg, store, clock, key).await
    }

    /// Like [`AttestationService::new`] with an explicit signing key (tests, HSM-less setups).
    ///
    /// # Errors
    ///
    /// As [`AttestationService::new`].
    pub async fn with_signing_key(
        cfg: ServiceConfig,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        key: SigningKey,
    ) -> Result<Self, Error> {
        if cfg.token_ttl_secs == 0 || cfg.token_ttl_secs > 7 * 24 * 3600 {
            return Err(Error::Config("token_ttl_secs must be 1..=604800".into()));
        }
        let mut b = AttestationServiceBuilder::new()
            .store(store)
            .clock(clock)
            .token_signing_key(key)
            .issuer(cfg.issuer.clone())
            .token_ttl(Duration::from_secs(cfg.token_ttl_secs))
            .allow_sample(cfg.allow_sample)
            .tpm_allow_untrusted_ak(cfg.tpm_allow_untrusted_ak)
            .crl_settings(CrlSettings::from_config(&cfg)?);
        b = match &cfg.attestation_policy {
            PolicyChoice::Production => b.production_policy(),
            PolicyChoice::Development => b.development_policy(),
            PolicyChoice::File(p) => {
                b.policy_text_labeled(p.display().to_string(), read_config_text(p)?)
            }
        };
        let extra = cfg.snp_extra_arks.iter().map(|p| (p, false));
        for (p, production) in extra.chain(cfg.snp_production_arks.iter().map(|p| (p, true))) {
            b = b.snp_ark_labeled(p.display().to_string(), read_config_file(p)?, production);
        }
        for p in &cfg.manifest_signers {
            let pem = read_config_text(p)?;
            let key = PublicKey::from_pem(&pem)
                .map_err(|e| Error::Config(format!("{}: {e}", p.display())))?;
            b = b.manifest_signer(key);
        }
        for p in &cfg.reference_values {
            b = b.reference_values_labeled(p.display().to_string(), read_config_file(p)?);
        }
        b.build().await
    }

    /// The service from in-memory parts (no filesystem access).
    pub(crate) async fn assemble(parts: Parts) -> Result<Self, Error> {
        let Parts {
            store,
            clock,
            key,
            policy: policy_source,
            issuer,
            token_ttl,
            arks,
            allow_sample,
            tpm_allow_untrusted_ak,
            manifest_signers,
            crl,
        } = parts;
        let mut anchors = remits_snp::TrustAnchors::amd();
        let mut production = Vec::new();
        for (label, bytes, for_production) in arks {
            // An operator's file: DER, or one PEM certificate (lenient: any line length).
            let der = remits_codec::pem::der_or_pem(&bytes, "CERTIFICATE")
                .map_err(|e| Error::Config(format!("{label}: {e}")))?;
            anchors = anchors
                .with_ark(&der)
                .map_err(|e| Error::Config(format!("{label}: {e}")))?;
            if for_production {
                production.push(Sha256::digest(&der).into());
            }
        }
        let roots = Arc::new(ProductionRoots::new(production));
        let rvs = Arc::new(ReferenceValueStore::open(store.clone()).await?);
        let snp_verifier = crate::snp_crl::snp_verifier(anchors, &crl, clock.clone())?;
        let mut drivers = Drivers::new();
        drivers.register(Arc::new(SnpDriver::new(
            snp_verifier.clone(),
            roots.clone(),
        )));
        drivers.register(Arc::new(AzSnpVtpmDriver::new(snp_verifier, roots)));
        drivers.register(Arc::new(TpmDriver::new(
            Some(rvs.clone()),
            tpm_allow_untrusted_ak,
        )));
        if allow_sample {
            drivers.register(Arc::new(SampleDriver));
        }
        let policy = PolicyEngine::new();
        let (default_policy_id, default_policy_text) = match policy_source {
            PolicySource::Shipped(id) => (id.to_string(), None),
            PolicySource::Text { label, text } => {
                let id = "default".to_string();
                // Name the source (the message has line, column and reason, never its text).
                policy.compile(&id, &text).map_err(|e| match (e, &label) {
                    (remits_policy::Error::Parse { id, reason }, Some(l)) => {
                        Error::Policy(remits_policy::Error::Parse {
                            id: format!("{id} ({l})"),
                            reason,
                        })
                    }
                    (other, _) => other.into(),
                })?;
                (id, Some(text))
            }
        };
        let signer = TokenSigner::new(key, issuer.clone(), token_ttl);
        let token_verifier = TokenVerifier::new(signer.verifying_key(), issuer.clone());
        Ok(AttestationService {
            store,
            clock,
            drivers: RwLock::new(drivers),
            policy,
            default_policy_id,
            default_policy_text,
            signer,
            token_verifier,
            rvs,
            issuer,
            manifest_signers,
            default_policy_cache: ReadCache::new(Namespace::AttestationPolicy),
            resource_policy_cache: ReadCache::new(Namespace::ResourcePolicy),
            per_resource_cache: ReadCache::new(Namespace::ResourcePolicy),
        })
    }

    /// Add (or replace) a TEE driver: how an embedder adds a TEE.
    pub fn register_driver(&self, driver: Arc<dyn TeeDriver>) {
        if let Ok(mut d) = self.drivers.write() {
            d.register(driver);
        }
    }

    /// The token issuer (`iss`) this service writes and its verifier pins.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The token signer's public key (publish it to token consumers).
    pub fn token_public_key(&self) -> p256::ecdsa::VerifyingKey {
        self.signer.verifying_key()
    }

    /// Verify evidence, check the binding, run the policy and issue a token. Fails with
    /// [`Error::PolicyDenied`] unless the status is affirming.
    ///
    /// # Errors
    ///
    /// [`Error::PolicyDenied`] when the status is not affirming, and every error of
    /// [`AttestationService::appraise`].
    #[must_use = "an attestation result: the token and status decide"]
    pub async fn attest(&self, req: AttestationRequest) -> Result<Attested, Error> {
        let a = self
            .appraise(
                req.tee.as_str(),
                &req.evidence,
                &req.binding,
                req.init_data.as_ref(),
            )
            .await?;
        if a.status != EarStatus::Affirming {
            return Err(Error::PolicyDenied(Box::new(a.explanation)));
        }
        Ok(a)
    }

    /// The full appraisal for any registered TEE name, returning the token whatever the status
    /// (the CLI prints non-affirming results; brokers should use [`AttestationService::attest`]).
    ///
    /// The token carries `runtime_data_claims` (the TEE key and nonce) only for
    /// [`Binding::RuntimeData`], after the evidence was found to carry their digest, and
    /// records the binding as `remits_binding.kind`.
    ///
    /// # Errors
    ///
    /// [`Error::BadRequest`] for an unknown TEE or a malformed binding or init-data,
    /// [`Error::TeeDisabled`] for `sample` unless allowed, [`Error::EvidenceRejected`] or
    /// [`Error::Binding`] when the evidence fails, [`Error::Policy`] when the policy fails to run,
    /// [`Error::Store`] when the store fails. A policy that does not affirm is not an error here:
    /// see the status.
    #[must_use = "an appraisal: its status decides, not its success"]
    pub async fn appraise(
        &self,
        tee: &str,
        evidence: &Value,
        binding: &Binding,
        init_data: Option<&InitData>,
    ) -> Result<Attested, Error> {
        let driver = self
            .drivers
            .read()
            .ok()
            .and_then(|d| d.get(tee).cloned())
            .ok_or_else(|| {
                if tee == "sample" {
                    Error::TeeDisabled {
                        tee: tee.into(),
                        reason: "sample evidence is unsigned; set allow_sample = true to accept it"
                            .into(),
                    }
                } else {
                    Error::BadRequest(format!("no verifier for TEE {tee:?}"))
                }
            })?;
        let (report_data, rd_claims) = match binding {
            Binding::RuntimeData(rd) => {
                let digest = rd
                    .digest(HashAlg::Sha384)
                    .map_err(|e| Error::BadRequest(format!("runtime_data: {e}")))?;
                let pk = sanitize_tee_pubkey(&rd.tee_pubkey)
                    .map_err(|e| Error::BadRequest(format!("runtime_data.tee-pubkey: {e}")))?;
                (
                    ReportDataCheck::Digest(digest),
                    json!({"nonce": rd.nonce, "tee-pubkey": pk}),
                )
            }
            Binding::ReportData(d) => (ReportDataCheck::Exact(d.clone()), Value::Null),
            Binding::Unchecked => (ReportDataCheck::Unchecked, Value::Null),
        };
        let mut expected = Expected {
            report_data,
            init_data: None,
        };
        let mut id_claims = Value::Null;
        if let Some(id) = init_data {
            let (_, d) = id.digest().map_err(|e| Error::BadRequest(e.to_string()))?;
            expected.init_data = Some(d);
            id_claims = init_data_claims(id);
        }
        // Reference values as stored now (another replica may have registered some): the TPM
        // driver and the policy below read this snapshot.
        self.rvs.refresh().await?;
        let now = self.clock.now();
        let out = driver.verify(evidence, &expected, now)?;
        // A driver that returns without comparing the report data it was given would let an
        // unbound key into a signed token: refuse the result instead.
        if expected.report_data.is_checked() && !out.report_data_checked {
            return Err(Error::Internal(format!(
                "the {tee} driver returned without checking the requested report data"
            )));
        }
        // Init-data claims are signed only when the evidence carries their digest (the sample
        // TEE cannot bind init-data: its token says `init_data_checked: false`, no claims).
        if !out.init_data_checked {
            id_claims = Value::Null;
        }
        self.finish(
            driver.name(),
            driver.tee_class(),
            out,
            binding.kind(),
            rd_claims,
            id_claims,
        )
        .await
    }

    /// The stored text of `ns`/`key`, if any.
    async fn stored_text(
        store: &dyn Store,
        ns: Namespace,
        key: &str,
    ) -> Result<Option<String>, Error> {
        match store.get(ns, key).await? {
            Some(b) => String::from_utf8(b.to_vec())
                .map(Some)
                .map_err(|_| Error::Internal(format!("stored {ns} {key:?} is not UTF-8"))),
            None => Ok(None),
        }
    }

    async fn policy_text(&self, id: &str) -> Result<String, Error> {
        let store = self.store.as_ref();
        let ns = Namespace::AttestationPolicy;
        let stored = if id == self.default_policy_id {
            self.default_policy_cache
                .get_or_load(store, || Self::stored_text(store, ns, id))
                .await?
        } else {
            Arc::new(Self::stored_text(store, ns, id).await?)
        };
        if let Some(t) = stored.as_ref() {
            return Ok(t.clone());
        }
        if id == self.default_policy_id {
            if let Some(t) = &self.default_policy_text {
                return Ok(t.clone());
            }
        }
        match id {
            shipped::PRODUCTION_ID => Ok(shipped::PRODUCTION.to_string()),
            shipped::DEVELOPMENT_ID => Ok(shipped::DEVELOPMENT.to_string()),
            other => Err(Error::BadRequest(format!(
                "no attestation policy {other:?}"
            ))),
        }
    }

    async fn finish(
        &self,
        tee: &str,
        class: &str,
        out: DriverOutput,
        binding: &'static str,
        rd_claims: Value,
        id_claims: Value,
    ) -> Result<Attested, Error> {
        let (report_data_checked, init_data_checked) =
            (out.report_data_checked, out.init_data_checked);
        let input = annotated_input(tee, out, binding, rd_claims, id_claims);
        let id = self.default_policy_id.clone();
        let text = self.policy_text(&id).await?;
        let now = self.clock.now();
        let rv = Arc::new(self.rvs.snapshot(now));
        let outcome = self.policy.evaluate_attestation(&id, &text, &input, rv)?;
        let mut submod = Map::new();
        submod.insert("ear.status".into(), json!(outcome.status.as_str()));
        submod.insert(
            "ear.trustworthiness-vector".into(),
            json!(outcome.trust_vector),
        );
        submod.insert("ear.appraisal-policy-id".into(), json!(id));
        submod.insert("ear.veraison.annotated-evidence".into(), input);
        if let Some(Value::Array(exts)) = &outcome.extensions {
            for e in exts {
                if let (Some(Value::String(name)), Some(v)) = (e.get("name"), e.get("value")) {
                    submod.entry(name.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        let mut claims = Map::new();
        claims.insert(
            "ear.verifier-id".into(),
            json!({"developer": "remits", "build": concat!("remits-verify ", env!("CARGO_PKG_VERSION"))}),
        );
        claims.insert(
            "submods".into(),
            json!({ format!("{class}0"): Value::Object(submod) }),
        );
        // The claims are the ones just signed: verifying our own signature in-process would
        // only repeat work (consumers verify the token; `verify_token` pins key and issuer).
        let (token, claims) = self.signer.sign_with_claims(claims, now)?;
        Ok(Attested {
            token,
            status: outcome.status,
            claims,
            explanation: outcome.explanation,
            binding,
            report_data_checked,
            init_data_checked,
        })
    }

    /// Verify a token issued by this service (issuer key, `ES256`, expiry pinned).
    ///
    /// # Errors
    ///
    /// [`Error::Token`] naming the check that failed (signature, algorithm, issuer, expiry, ...).
    #[must_use = "the verified claims are the only trusted view of the token"]
    pub fn verify_token(&self, token: &str) -> Result<Value, Error> {
        self.token_verifier.verify(token, self.clock.now())
    }

    /// Evaluate the resource policy (`data.policy.allow`) for `path` = `repo/type/tag`.
    ///
    /// # Errors
    ///
    /// [`Error::BadRequest`] when `path` is not `repo/type/tag`, [`Error::Policy`] when a policy
    /// fails to run, [`Error::Store`] when the store fails. A denial is not an error: see
    /// [`ResourceDecision::allow`].
    #[must_use = "a resource decision: check `allow`"]
    pub async fn allow_resource(
        &self,
        token_claims: &Value,
        path: &str,
    ) -> Result<Decision, Error> {
        let segs: Vec<&str> = path.split('/').collect();
        if segs.len() != 3 || segs.iter().any(|s| s.is_empty()) {
            return Err(Error::BadRequest(format!(
                "resource path {path:?} is not repo/type/tag"
            )));
        }
        let store = self.store.as_ref();
        let stored = self
            .resource_policy_cache
            .get_or_load(store, || {
                Self::stored_text(store, Namespace::ResourcePolicy, RESOURCE_POLICY_KEY)
            })
            .await?;
        let text = match stored.as_ref() {
            Some(t) => t.as_str(),
            None => shipped::RESOURCE_AFFIRMING,
        };
        let data = json!({"plugin": "resource", "resource-path": segs, "query": {}});
        let d = self
            .policy
            .evaluate_resource("resource", text, token_claims, &data)?;
        if !d.allow {
            return Ok(d);
        }
        // A per-resource policy, when one is stored, must allow as well. Looked up through a
        // memo valid while the namespace's change epoch stands (a store that does not track
        // changes gets a fresh memo, i.e. a read, every time).
        let key = format!("{PER_RESOURCE_POLICY_PREFIX}{path}");
        let memo = self
            .per_resource_cache
            .get_or_load(store, || async {
                Ok::<_, Error>(PerResourceMemo::default())
            })
            .await?;
        let own = match memo.get(&key) {
            Some(v) => v,
            None => {
                let v = Self::stored_text(store, Namespace::ResourcePolicy, &key)
                    .await?
                    .map(Arc::new);
                memo.put(&key, v.clone());
                v
            }
        };
        match own {
            None => Ok(d),
            Some(own) => Ok(self
                .policy
                .evaluate_resource(&key, &own, token_claims, &data)?),
        }
    }

    /// Appraise an SEV pre-launch whose measurement the caller has already verified
    /// (`remits_sev::verify_measurement`), with the default attestation policy: `claims` are
    /// the `sev` claims (guest policy bits by name, API version, build, launch digest, root),
    /// the binding is recorded as [`SEV_LAUNCH_BINDING`]. No token is issued.
    ///
    /// # Errors
    ///
    /// [`Error::Policy`] when the policy fails to run, [`Error::Store`] when the store fails. A
    /// policy that does not affirm is not an error: see the status.
    #[must_use = "an appraisal: its status decides, not its success"]
    pub async fn appraise_sev_launch(
        &self,
        claims: Map<String, Value>,
    ) -> Result<SevAppraisal, Error> {
        self.rvs.refresh().await?;
        let input = json!({
            "sev": Value::Object(claims),
            "remits_binding": {
                "kind": SEV_LAUNCH_BINDING,
                "report_data_checked": false,
                "init_data_checked": false,
            },
        });
        let id = self.default_policy_id.clone();
        let text = self.policy_text(&id).await?;
        let rv = Arc::new(self.rvs.snapshot(self.clock.now()));
        let outcome = self.policy.evaluate_attestation(&id, &text, &input, rv)?;
        Ok(SevAppraisal {
            status: outcome.status,
            explanation: outcome.explanation,
        })
    }

    /// Validate a resource policy without storing it (as [`Self::set_resource_policy`] does).
    ///
    /// # Errors
    ///
    /// [`Error::Policy`] when the text does not compile.
    pub fn check_resource_policy(&self, id: &str, rego: &str) -> Result<(), Error> {
        Ok(self.policy.compile(id, rego)?)
    }

    /// Store an attestation policy under `id` (validated first; takes effect immediately).
    ///
    /// # Errors
    ///
    /// [`Error::BadRequest`] for an id that is empty or longer than 128 bytes, [`Error::Policy`]
    /// when the text does not compile, [`Error::Store`] when storing fails.
    pub async fn set_attestation_policy(&self, id: &str, rego: &str) -> Result<(), Error> {
        if id.is_empty() || id.len() > 128 {
            return Err(Error::BadRequest("policy id must be 1..=128 bytes".into()));
        }
        self.policy.compile(id, rego)?;
        self.store
            .put(Namespace::AttestationPolicy, id, rego.as_bytes(), None)
            .await?;
        Ok(())
    }

    /// Store the resource policy (validated first; takes effect immediately).
    ///
    /// # Errors
    ///
    /// [`Error::Policy`] when the text does not compile, [`Error::Store`] when storing fails.
    pub async fn set_resource_policy(&self, rego: &str) -> Result<(), Error> {
        self.policy.compile("resource", rego)?;
        self.store
            .put(
                Namespace::ResourcePolicy,
                RESOURCE_POLICY_KEY,
                rego.as_bytes(),
                None,
            )
            .await?;
        Ok(())
    }

    /// Register reference values (trustee sample form, RVPS message, or remits form with expiry).
    ///
    /// # Errors
    ///
    /// [`Error::ReferenceValues`] when the JSON is none of the accepted forms, [`Error::Store`]
    /// when storing fails.
    pub async fn register_reference_values(&self, json: &[u8]) -> Result<(), Error> {
        let (rv, exp) = parse_registration(json)?;
        self.rvs.register(&rv, exp).await
    }

    /// Register the reference values of a `remits-measure` manifest (see
    /// [`crate::refvalues::manifest_reference_values`]), checking its signature against the
    /// configured `manifest_signers`. Returns what was registered.
    ///
    /// # Errors
    ///
    /// [`Error::ReferenceValues`] when the manifest is malformed or its signature is not accepted
    /// (see [`crate::refvalues::manifest_reference_values`]), [`Error::Store`] when storing fails.
    pub async fn register_manifest(
        &self,
        json: &[u8],
        expires_at: Option<std::time::SystemTime>,
    ) -> Result<remits_policy::ReferenceValues, Error> {
        let rv = crate::refvalues::manifest_reference_values(json, &self.manifest_signers)?;
        self.rvs.register(&rv, expires_at).await?;
        Ok(rv)
    }

    /// The reference values in force now.
    pub fn reference_values(&self) -> remits_policy::ReferenceValues {
        self.rvs.snapshot(self.clock.now())
    }
}

/// `init_data_claims`: the TOML document's `data` table as JSON (empty object when absent).
fn init_data_claims(id: &InitData) -> Value {
    let Ok(doc) = toml::from_str::<toml::Table>(&id.body) else {
        return json!({});
    };
    match doc.get("data") {
        Some(d) => serde_json::to_value(d).unwrap_or_else(|_| json!({})),
        None => json!({}),
    }
}
