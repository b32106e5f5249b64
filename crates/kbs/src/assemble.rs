//! Builds a running broker's state from a [`BrokerConfig`]: store, sessions, attestation
//! service, admin keys, TLS. Everything is parsed once here, never per request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use remits_evidence::clock::Clock;
use remits_store::{AtRest, MemoryStore, PostgresOptions, Store, StoreOptions};
use remits_verify::AttestationService;

use crate::admin::{AdminPublicKey, AdminVerifier, NamedKey};
use crate::config::{Backend, BrokerConfig, SessionPlace};
use crate::rng::RandomSource;
use crate::server::{KbsState, Metrics, PendingChallenges, Settings};
use crate::verify_backend::VerifyBackend;

/// How often expired sessions are purged from the store.
pub const SESSION_GC_INTERVAL: Duration = Duration::from_secs(60);

/// Start-up failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AssembleError {
    /// Configuration is inconsistent.
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    /// The store could not be opened.
    #[error("storage: {0}")]
    Store(String),
    /// `storage.backend` names a backend this build does not include (its remits-store cargo
    /// feature is off; remits-broker turns both on).
    #[error(
        "storage.backend = {backend:?} is not built into this program: build remits-store \
         with feature \"{feature}\""
    )]
    BackendNotBuilt {
        /// The backend configured: `embedded` or `postgres`.
        backend: &'static str,
        /// The remits-store feature that compiles it.
        feature: &'static str,
    },
    /// The attestation service could not be built.
    #[error("attestation service: {0}")]
    Verify(String),
    /// An admin key could not be loaded.
    #[error("{0}")]
    Admin(#[from] crate::admin::AdminError),
    /// TLS could not be configured.
    #[error("{0}")]
    Tls(#[from] crate::server::tls::TlsError),
}

/// A broker ready to serve.
pub struct Assembled {
    /// Handler state.
    pub state: Arc<KbsState>,
    /// TLS configuration when `[tls]` is set.
    pub tls: Option<Arc<rustls_ring::ServerConfig>>,
    /// Listen address.
    pub listen: SocketAddr,
    /// Connection limits and timeouts (`[net]`).
    pub limits: crate::server::Limits,
    /// The attestation service (e.g. to print its token key).
    pub service: Arc<AttestationService>,
}

fn store_err(e: remits_store::StoreError) -> AssembleError {
    AssembleError::Store(e.to_string())
}

/// Opens the store, the attestation service and the rest; spawns the session purger.
///
/// # Errors
///
/// [`AssembleError::Config`] for an invalid configuration, [`AssembleError::Store`] when the store
/// cannot be opened, [`AssembleError::Verify`] when the attestation service cannot be built,
/// [`AssembleError::Admin`] for a bad admin key, [`AssembleError::Tls`] for bad TLS files.
pub async fn assemble(
    cfg: &BrokerConfig,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn RandomSource>,
) -> Result<Assembled, AssembleError> {
    cfg.validate()?;
    let backend = match cfg.storage.backend {
        Backend::Embedded => remits_store::Backend::Embedded {
            dir: cfg.storage.dir.clone().ok_or_else(|| {
                AssembleError::Store("storage.dir is required for the embedded store".into())
            })?,
        },
        Backend::Postgres => remits_store::Backend::Postgres(PostgresOptions {
            url: cfg.storage.url.clone().unwrap_or_default(),
            sslmode: cfg.storage.sslmode.map(Into::into),
            ssl_root_cert: cfg.storage.ssl_root_cert.clone(),
            password_file: cfg.storage.password_file.clone(),
            max_connections: cfg.storage.max_connections,
        }),
        Backend::Memory => remits_store::Backend::Memory,
    };
    // A backend this build does not include (remits-store feature `redb` / `postgres` off) is
    // refused before any file is read.
    backend.check_built().map_err(|e| match e {
        remits_store::StoreError::BackendNotBuilt { backend, feature } => {
            AssembleError::BackendNotBuilt { backend, feature }
        }
        other => store_err(other),
    })?;
    let at_rest = AtRest {
        kek_file: cfg.storage.kek_file.clone(),
        rollback_marks_file: cfg.storage.rollback_marks_file.clone(),
    };
    let opts = StoreOptions {
        allow_plaintext: cfg.storage.allow_plaintext,
        ..StoreOptions::default()
    }
    .with_clock(clock.clone());
    let store = remits_store::open(&backend, &at_rest, opts.clone())
        .await
        .map_err(store_err)?;
    // Store failures are counted for /metrics (`remits_store_errors_total{op}`).
    let metrics = Metrics::default();
    let store = metrics.metered(store);
    let place = cfg.storage.sessions.unwrap_or(match cfg.storage.backend {
        Backend::Postgres => SessionPlace::Store,
        _ => SessionPlace::Memory,
    });
    let sessions: Arc<dyn Store> = match place {
        SessionPlace::Store => store.clone(),
        SessionPlace::Memory => metrics.metered(Arc::new(MemoryStore::with_options(opts))),
    };
    let mut keys = Vec::new();
    for k in &cfg.admin.keys {
        let pem = remits_evidence::input::read_capped_string(
            &k.public_key,
            remits_evidence::input::MAX_INPUT_FILE,
            "admin public key",
        )
        .map_err(|e| crate::admin::AdminError::Key {
            name: k.public_key.display().to_string(),
            reason: e.to_string(),
        })?;
        keys.push(NamedKey {
            name: k.name.clone(),
            key: AdminPublicKey::from_pem(&k.name, &pem)?,
        });
    }
    let service = Arc::new(
        AttestationService::new(cfg.attestation.clone(), store.clone(), clock.clone())
            .await
            .map_err(|e| AssembleError::Verify(e.to_string()))?,
    );
    let tls = match &cfg.tls {
        Some(t) => Some(crate::server::tls::server_config(&t.cert, &t.key)?),
        None => None,
    };
    let state = Arc::new(KbsState {
        backend: Arc::new(VerifyBackend(service.clone())),
        store,
        sessions: sessions.clone(),
        clock,
        rng,
        admin: AdminVerifier::new(keys, cfg.admin.max_token_lifetime)
            .with_expected(cfg.admin.issuer.clone(), cfg.admin.audience.clone()),
        settings: Settings {
            session_ttl: cfg.session_ttl,
            compat: cfg.compat,
            max_body_bytes: cfg.max_body_bytes,
            request_timeout: cfg.request_timeout,
            secure_cookie: tls.is_some(),
            max_pending_sessions: cfg.max_pending_sessions,
            sev: crate::server::sev::SevSettings::load(&cfg.sev).map_err(AssembleError::Config)?,
        },
        metrics,
        pending: PendingChallenges::new(cfg.max_pending_sessions),
        sev_pending: PendingChallenges::new(cfg.sev.max_pending_sessions),
    });
    let gc = sessions;
    // SEV launch sessions live in the main store (sealed under the KEK): purge it too.
    let gc_store = (!Arc::ptr_eq(&gc, &state.store)).then(|| state.store.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SESSION_GC_INTERVAL);
        loop {
            tick.tick().await;
            for s in std::iter::once(&gc).chain(gc_store.as_ref()) {
                if let Err(e) = s.purge_expired().await {
                    tracing::warn!(error = %e, "session purge failed");
                }
            }
        }
    });
    Ok(Assembled {
        state,
        tls,
        listen: cfg.listen,
        limits: cfg.net.limits(),
        service,
    })
}
