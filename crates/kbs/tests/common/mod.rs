//! Shared helpers for the server tests: a broker on 127.0.0.1, a settable clock, and a
//! protocol-level backend for the `sample` TEE (checks the runtime-data binding exactly as a
//! verifier must, issues opaque tokens) so that KBS refusals are tested independently of
//! the verifier crate.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use remits_evidence::binding::HashAlg;
use remits_evidence::clock::Clock;
use remits_kbs::admin::{AdminSigningKey, AdminVerifier, NamedKey};
use remits_kbs::backend::{
    find_tee_pubkey, AttestInput, AttestOutput, AttestationBackend, BackendError,
};
use remits_kbs::server::{router, serve, KbsState, Metrics, Settings};
use remits_kbs::OsRandom;
use remits_store::{MemoryStore, Store};
use serde_json::{json, Value};

/// A clock tests can move.
#[derive(Debug)]
pub struct TestClock(pub AtomicU64);

impl TestClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self(AtomicU64::new(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        )))
    }
    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(d.as_secs(), Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.0.load(Ordering::SeqCst))
    }
}

/// Sample-TEE backend: evidence must bind SHA-384 of the runtime data; tokens are opaque
/// random strings mapped to claims; paths under `denied/` are refused by "policy".
pub struct SampleBackend {
    pub clock: Arc<dyn Clock>,
    tokens: Mutex<HashMap<String, Value>>,
    pub attest_calls: AtomicU64,
}

impl SampleBackend {
    pub fn new(clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self {
            clock,
            tokens: Mutex::new(HashMap::new()),
            attest_calls: AtomicU64::new(0),
        })
    }
}

#[async_trait::async_trait]
impl AttestationBackend for SampleBackend {
    async fn attest(&self, input: AttestInput) -> Result<AttestOutput, BackendError> {
        self.attest_calls.fetch_add(1, Ordering::SeqCst);
        let expected = input
            .runtime_data
            .digest(HashAlg::Sha384)
            .map_err(|e| BackendError::BadRequest(e.to_string()))?;
        let got = input
            .evidence
            .get("report_data")
            .and_then(Value::as_str)
            .and_then(|s| STANDARD.decode(s).ok())
            .ok_or_else(|| BackendError::malformed("sample", "report_data missing"))?;
        if got != expected {
            return Err(BackendError::Binding {
                tee: "sample".into(),
                what: "report_data",
                expected: hex::encode(&expected),
                actual: hex::encode(&got),
            });
        }
        let mut t = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut t);
        let token = hex::encode(t);
        let exp = self
            .clock
            .now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 600;
        let claims = json!({"exp": exp, "submods": {"cpu0": {"ear.status": "affirming",
            "ear.veraison.annotated-evidence": {"sample": {"svn": "1"},
            "runtime_data_claims": {"tee-pubkey": input.runtime_data.tee_pubkey}}}}});
        self.tokens
            .lock()
            .unwrap()
            .insert(token.clone(), claims.clone());
        Ok(AttestOutput { token, claims })
    }
    fn verify_token(&self, token: &str) -> Result<Value, BackendError> {
        let claims = self
            .tokens
            .lock()
            .unwrap()
            .get(token)
            .cloned()
            .ok_or_else(|| BackendError::Token("unknown token".into()))?;
        let now = self
            .clock
            .now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        if claims["exp"].as_u64().unwrap() <= now {
            return Err(BackendError::Token("expired".into()));
        }
        Ok(claims)
    }
    fn tee_pubkey(&self, claims: &Value) -> Option<Value> {
        find_tee_pubkey(claims)
    }
    async fn allow_resource(&self, _claims: &Value, path: &str) -> Result<bool, BackendError> {
        Ok(!path.starts_with("denied/"))
    }
    async fn set_attestation_policy(&self, _id: &str, rego: &str) -> Result<(), BackendError> {
        if rego.contains("package") {
            Ok(())
        } else {
            Err(BackendError::BadRequest("not Rego".into()))
        }
    }
    async fn set_resource_policy(&self, rego: &str) -> Result<(), BackendError> {
        self.set_attestation_policy("r", rego).await
    }
    async fn register_reference_values(&self, _body: &[u8]) -> Result<(), BackendError> {
        Ok(())
    }
}

/// A running broker on 127.0.0.1.
pub struct Running {
    pub addr: SocketAddr,
    pub state: Arc<KbsState>,
    pub admin_key: AdminSigningKey,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Starts a broker over `backend` with a memory store.
pub async fn start(
    backend: Arc<dyn AttestationBackend>,
    clock: Arc<dyn Clock>,
    settings: Settings,
) -> Running {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    start_with(backend, clock, settings, store.clone(), store).await
}

/// Starts a broker over explicit stores.
pub async fn start_with(
    backend: Arc<dyn AttestationBackend>,
    clock: Arc<dyn Clock>,
    settings: Settings,
    store: Arc<dyn Store>,
    sessions: Arc<dyn Store>,
) -> Running {
    start_opts(backend, clock, settings, store, sessions, true).await
}

/// Starts a broker; `admin_enabled = false` configures no admin keys.
pub async fn start_opts(
    backend: Arc<dyn AttestationBackend>,
    clock: Arc<dyn Clock>,
    settings: Settings,
    store: Arc<dyn Store>,
    sessions: Arc<dyn Store>,
    admin_enabled: bool,
) -> Running {
    let admin_key = AdminSigningKey::generate_ed25519(&mut rand::rngs::OsRng);
    let state = Arc::new(KbsState {
        backend,
        store,
        sessions,
        clock,
        rng: Arc::new(OsRandom),
        admin: AdminVerifier::new(
            if admin_enabled {
                vec![NamedKey {
                    name: "test-admin".into(),
                    key: admin_key.public_key(),
                }]
            } else {
                vec![]
            },
            Duration::from_secs(3600),
        ),
        pending: remits_kbs::server::PendingChallenges::new(settings.max_pending_sessions),
        sev_pending: remits_kbs::server::PendingChallenges::new(settings.sev.max_pending_sessions),
        settings,
        metrics: Metrics::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = router(state.clone());
    tokio::spawn(async move {
        let _ = serve(listener, app, None, async move {
            let _ = rx.await;
        })
        .await;
    });
    Running {
        addr,
        state,
        admin_key,
        stop: Some(tx),
    }
}
