//! The attestation service: drivers + binding + reference values + policy + EAR token.
use std::sync::{Arc, RwLock};
use std::time::Duration;

use p256::ecdsa::SigningKey;
use remits_evidence::binding::{sanitize_tee_pubkey, HashAlg, RuntimeData};
use remits_evidence::clock::Clock;
use remits_evidence::initdata::InitData;
use remits_evidence::TeeKind;
use remits_policy::{shipped, EarStatus, Explanation, PolicyEngine, ResourceDecision};
use remits_store::{Namespace, Store};
use serde_json::{json, Map, Value};

use crate::config::{PolicyChoice, ServiceConfig};
use crate::driver::{DriverOutput, Drivers, Expected, TeeDriver};
use crate::drivers::{az::AzSnpVtpmDriver, sample::SampleDriver, snp::SnpDriver, tpm::TpmDriver};
use crate::refvalues::{parse_registration, ReferenceValueStore};
use crate::token::{TokenSigner, TokenVerifier};
use crate::Error;

/// Key of the resource policy in `Namespace::ResourcePolicy`.
pub const RESOURCE_POLICY_KEY: &str = "default";

/// One attestation request (the KBS `Attestation` message, decoded).
#[derive(Debug, Clone)]
pub struct AttestationRequest {
    /// The TEE.
    pub tee: TeeKind,
    /// The primary evidence JSON.
    pub evidence: Value,
    /// The runtime data to bind (nonce + TEE key); `None`: binding not checked.
    pub runtime_data: Option<RuntimeData>,
    /// Init-data to bind; `None`: not checked.
    pub init_data: Option<InitData>,
}

/// A successful appraisal.
#[derive(Debug, Clone)]
pub struct Attested {
    /// The EAR token (ES256 JWT).
    pub token: String,
    /// The appraisal status (also inside the token).
    pub status: EarStatus,
    /// The token's claims.
    pub claims: Value,
    /// Why the policy decided so.
    pub explanation: Explanation,
    /// Whether the runtime-data binding was checked.
    pub report_data_checked: bool,
    /// Whether the init-data binding was checked.
    pub init_data_checked: bool,
}

/// A resource-policy decision.
pub type Decision = ResourceDecision;

/// The attestation service. `Send + Sync`; share it behind an `Arc`.
pub struct AttestationService {
    cfg: ServiceConfig,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    drivers: RwLock<Drivers>,
    policy: PolicyEngine,
    default_policy_id: String,
    default_policy_text: Option<String>,
    signer: TokenSigner,
    token_verifier: TokenVerifier,
    rvs: Arc<ReferenceValueStore>,
}

impl std::fmt::Debug for AttestationService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttestationService")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

fn pem_or_der(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    use base64::Engine as _;
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(bytes.to_vec());
    };
    let Some(start) = text.find("-----BEGIN CERTIFICATE-----") else {
        return Ok(bytes.to_vec());
    };
    let body = &text[start + 27..];
    let end = body
        .find("-----END")
        .ok_or_else(|| Error::Config("PEM without END line".into()))?;
    let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| Error::Config(format!("PEM: {e}")))
}

/// Load a P-256 signing key from PEM (PKCS#8 or SEC1).
pub fn load_signing_key(pem: &str) -> Result<SigningKey, Error> {
    use p256::pkcs8::DecodePrivateKey;
    if let Ok(k) = SigningKey::from_pkcs8_pem(pem) {
        return Ok(k);
    }
    p256::SecretKey::from_sec1_pem(pem)
        .map(SigningKey::from)
        .map_err(|_| Error::Config("token signing key: not a P-256 PKCS#8 or SEC1 PEM key".into()))
}

impl AttestationService {
    /// Build from configuration: loads (or generates) the signing key, the SNP trust anchors,
    /// the policy and the configured reference-value files.
    pub async fn new(
        cfg: ServiceConfig,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Error> {
        let key = match &cfg.token_signing_key {
            Some(p) => {
                let pem = std::fs::read_to_string(p)
                    .map_err(|e| Error::Config(format!("{}: {e}", p.display())))?;
                load_signing_key(&pem)?
            }
            None => SigningKey::random(&mut rand_core::OsRng),
        };
        Self::with_signing_key(cfg, store, clock, key).await
    }

    /// Like [`AttestationService::new`] with an explicit signing key (tests, HSM-less setups).
    pub async fn with_signing_key(
        cfg: ServiceConfig,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        key: SigningKey,
    ) -> Result<Self, Error> {
        let mut anchors = remits_snp::TrustAnchors::amd();
        for p in &cfg.snp_extra_arks {
            let bytes =
                std::fs::read(p).map_err(|e| Error::Config(format!("{}: {e}", p.display())))?;
            anchors = anchors
                .with_ark(&pem_or_der(&bytes)?)
                .map_err(|e| Error::Config(format!("{}: {e}", p.display())))?;
        }
        let rvs = Arc::new(ReferenceValueStore::open(store.clone()).await?);
        let snp_verifier = crate::snp_crl::snp_verifier(anchors, &cfg, clock.clone())?;
        let mut drivers = Drivers::new();
        drivers.register(Arc::new(SnpDriver::new(snp_verifier.clone())));
        drivers.register(Arc::new(AzSnpVtpmDriver::new(snp_verifier)));
        drivers.register(Arc::new(TpmDriver::new(
            Some(rvs.clone()),
            cfg.tpm_allow_untrusted_ak,
        )));
        if cfg.allow_sample {
            drivers.register(Arc::new(SampleDriver));
        }
        let (default_policy_id, default_policy_text) = match &cfg.attestation_policy {
            PolicyChoice::Production => (shipped::PRODUCTION_ID.to_string(), None),
            PolicyChoice::Development => (shipped::DEVELOPMENT_ID.to_string(), None),
            PolicyChoice::File(p) => {
                let t = std::fs::read_to_string(p)
                    .map_err(|e| Error::Config(format!("{}: {e}", p.display())))?;
                ("default".to_string(), Some(t))
            }
        };
        let policy = PolicyEngine::new();
        if let Some(t) = &default_policy_text {
            policy.compile(&default_policy_id, t)?;
        }
        let signer = TokenSigner::new(
            key,
            cfg.issuer.clone(),
            Duration::from_secs(cfg.token_ttl_secs),
        );
        let token_verifier = TokenVerifier::new(signer.verifying_key(), cfg.issuer.clone());
        let svc = AttestationService {
            store,
            clock,
            drivers: RwLock::new(drivers),
            policy,
            default_policy_id,
            default_policy_text,
            signer,
            token_verifier,
            rvs,
            cfg,
        };
        for p in svc.cfg.reference_values.clone() {
            let bytes =
                std::fs::read(&p).map_err(|e| Error::Config(format!("{}: {e}", p.display())))?;
            svc.register_reference_values(&bytes).await?;
        }
        Ok(svc)
    }

    /// Add (or replace) a TEE driver: how an embedder adds a TEE.
    pub fn register_driver(&self, driver: Arc<dyn TeeDriver>) {
        if let Ok(mut d) = self.drivers.write() {
            d.register(driver);
        }
    }

    /// The token issuer (`iss`) this service writes and its verifier pins.
    pub fn issuer(&self) -> &str {
        &self.cfg.issuer
    }

    /// The token signer's public key (publish it to token consumers).
    pub fn token_public_key(&self) -> p256::ecdsa::VerifyingKey {
        self.signer.verifying_key()
    }

    /// Verify evidence, check the binding, run the policy and issue a token. Fails with
    /// [`Error::PolicyDenied`] unless the status is affirming.
    pub async fn attest(&self, req: AttestationRequest) -> Result<Attested, Error> {
        let a = self
            .appraise(
                req.tee.as_str(),
                &req.evidence,
                req.runtime_data.as_ref(),
                req.init_data.as_ref(),
                None,
            )
            .await?;
        if a.status != EarStatus::Affirming {
            return Err(Error::PolicyDenied(Box::new(a.explanation)));
        }
        Ok(a)
    }

    /// The full appraisal for any registered TEE name, returning the token whatever the status
    /// (the CLI prints non-affirming results; brokers should use [`AttestationService::attest`]).
    /// `report_data` overrides the runtime-data digest (raw expected report data).
    pub async fn appraise(
        &self,
        tee: &str,
        evidence: &Value,
        runtime_data: Option<&RuntimeData>,
        init_data: Option<&InitData>,
        report_data: Option<Vec<u8>>,
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
        let mut expected = Expected {
            report_data_exact: report_data.is_some(),
            report_data,
            init_data: None,
        };
        let mut rd_claims = Value::Null;
        if let Some(rd) = runtime_data {
            let digest = rd
                .digest(HashAlg::Sha384)
                .map_err(|e| Error::BadRequest(e.to_string()))?;
            let pk = sanitize_tee_pubkey(&rd.tee_pubkey)
                .map_err(|e| Error::BadRequest(e.to_string()))?;
            rd_claims = json!({"nonce": rd.nonce, "tee-pubkey": pk});
            if expected.report_data.is_none() {
                expected.report_data = Some(digest);
            }
        }
        let mut id_claims = Value::Null;
        if let Some(id) = init_data {
            let (_, d) = id.digest().map_err(|e| Error::BadRequest(e.to_string()))?;
            expected.init_data = Some(d);
            id_claims = init_data_claims(id);
        }
        let now = self.clock.now();
        let out = driver.verify(evidence, &expected, now)?;
        self.finish(driver.name(), driver.tee_class(), out, rd_claims, id_claims)
            .await
    }

    async fn policy_text(&self, id: &str) -> Result<String, Error> {
        if let Some(b) = self.store.get(Namespace::AttestationPolicy, id).await? {
            return String::from_utf8(b.to_vec())
                .map_err(|_| Error::Internal(format!("stored policy {id:?} is not UTF-8")));
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
        rd_claims: Value,
        id_claims: Value,
    ) -> Result<Attested, Error> {
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
            json!({"report_data_checked": out.report_data_checked, "init_data_checked": out.init_data_checked}),
        );
        let input = Value::Object(annotated);
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
            report_data_checked: out.report_data_checked,
            init_data_checked: out.init_data_checked,
        })
    }

    /// Verify a token issued by this service (issuer key, `ES256`, expiry pinned).
    pub fn verify_token(&self, token: &str) -> Result<Value, Error> {
        self.token_verifier.verify(token, self.clock.now())
    }

    /// Evaluate the resource policy (`data.policy.allow`) for `path` = `repo/type/tag`.
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
        let text = match self
            .store
            .get(Namespace::ResourcePolicy, RESOURCE_POLICY_KEY)
            .await?
        {
            Some(b) => String::from_utf8(b.to_vec())
                .map_err(|_| Error::Internal("stored resource policy is not UTF-8".into()))?,
            None => shipped::RESOURCE_AFFIRMING.to_string(),
        };
        let data = json!({"plugin": "resource", "resource-path": segs, "query": {}});
        Ok(self
            .policy
            .evaluate_resource("resource", &text, token_claims, &data)?)
    }

    /// Store an attestation policy under `id` (validated first; takes effect immediately).
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
    pub async fn register_reference_values(&self, json: &[u8]) -> Result<(), Error> {
        let (rv, exp) = parse_registration(json)?;
        self.rvs.register(&rv, exp).await
    }

    /// Register the reference values of a `remits-measure` manifest (see
    /// [`crate::refvalues::manifest_reference_values`]), checking its signature against the
    /// configured `manifest_signers`. Returns what was registered.
    pub async fn register_manifest(
        &self,
        json: &[u8],
        expires_at: Option<std::time::SystemTime>,
    ) -> Result<remits_policy::ReferenceValues, Error> {
        let mut keys = Vec::new();
        for p in &self.cfg.manifest_signers {
            keys.push(
                remits_measure::predict::signing::PublicKey::from_file(p)
                    .map_err(|e| Error::Config(format!("{}: {e}", p.display())))?,
            );
        }
        let rv = crate::refvalues::manifest_reference_values(json, &keys)?;
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
