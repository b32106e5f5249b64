//! The broker configuration (TOML), documented option by option in `docs/broker.md`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Compat;

/// Top-level broker configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerConfig {
    /// Address to listen on (default `127.0.0.1:8080`).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Serve plain HTTP on a non-loopback address (default `false`: TLS is required there).
    #[serde(default)]
    pub insecure_http: bool,
    /// `remits` (default) or `trustee` status codes and message forms.
    #[serde(default)]
    pub compat: Compat,
    /// Session lifetime from `/auth` (humantime, default `5m`).
    #[serde(default = "default_session_ttl", with = "humantime_serde_compat")]
    pub session_ttl: Duration,
    /// Largest request body in bytes (default 2 MiB).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Time limit per request, body read included (humantime, default `30s`).
    #[serde(default = "default_timeout", with = "humantime_serde_compat")]
    pub request_timeout: Duration,
    /// Most `/auth` challenges outstanding at once (default 100,000); beyond it `/auth`
    /// answers 503 with `Retry-After`.
    #[serde(default = "default_max_pending")]
    pub max_pending_sessions: usize,
    /// Connection limits and timeouts.
    #[serde(default)]
    pub net: NetConfig,
    /// TLS certificate and key; absent = plain HTTP.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
    /// Storage backend.
    pub storage: StorageConfig,
    /// Admin API keys.
    #[serde(default)]
    pub admin: AdminConfig,
    /// Attestation service (verifiers, policies, token signing): see `remits_verify::ServiceConfig`.
    #[serde(default)]
    pub attestation: remits_verify::ServiceConfig,
    /// SEV/SEV-ES pre-launch endpoints (`/kbs/v0/sev/*`, docs/sev-prelaunch.md).
    #[serde(default)]
    pub sev: SevConfig,
}

/// `[sev]`: the SEV/SEV-ES pre-launch broker endpoints. Every field is optional.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SevConfig {
    /// Lifetime of a launch session, from `POST /kbs/v0/sev/session` to the measurement
    /// submission (humantime, default `10m`; at most `1h`).
    #[serde(default = "default_sev_ttl", with = "humantime_serde_compat")]
    pub session_ttl: Duration,
    /// Most launch sessions outstanding at once (default 1024); beyond it the session endpoint
    /// answers 503 with `Retry-After` and stores nothing.
    #[serde(default = "default_sev_pending")]
    pub max_pending_sessions: usize,
    /// DEVELOPMENT ONLY: extra ARK/ASK pairs (AMD certificate format, e.g. a simulated
    /// platform's) under which platform chains are accepted too. A chain verified under one of
    /// them is recorded as `production_root = false`, which the production policy refuses.
    /// Default: none (AMD's built-in roots only).
    #[serde(default)]
    pub dev_roots: Vec<SevRootFiles>,
}

/// One ARK/ASK pair given as files (AMD certificate format).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SevRootFiles {
    /// The ARK file.
    pub ark: PathBuf,
    /// The ASK file (signed by the ARK).
    pub ask: PathBuf,
}

impl Default for SevConfig {
    fn default() -> Self {
        Self {
            session_ttl: default_sev_ttl(),
            max_pending_sessions: default_sev_pending(),
            dev_roots: Vec::new(),
        }
    }
}

fn default_sev_ttl() -> Duration {
    crate::server::sev::DEFAULT_SESSION_TTL
}
fn default_sev_pending() -> usize {
    crate::server::sev::DEFAULT_MAX_PENDING
}

/// `[net]`: connection limits and timeouts (see `remits_serve::Limits`, which documents each
/// defence). Every field is optional; the defaults are safe to expose.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetConfig {
    /// Time to send a complete request head; also the idle keep-alive timeout (default `10s`).
    #[serde(default = "d_header", with = "humantime_serde_compat")]
    pub header_read_timeout: Duration,
    /// Close a connection on which no byte moved for this long (default `120s`; must exceed
    /// `request_timeout`).
    #[serde(default = "d_idle", with = "humantime_serde_compat")]
    pub idle_timeout: Duration,
    /// Largest request head in bytes (default 16384; 8 KiB ..= 1 MiB); larger gets 431.
    #[serde(default = "d_header_bytes")]
    pub max_header_bytes: usize,
    /// Most header fields per request (default 100).
    #[serde(default = "d_headers")]
    pub max_headers: usize,
    /// Most open connections (default 4096; lowered below the open-file limit).
    #[serde(default = "d_conns")]
    pub max_connections: usize,
    /// Time to finish a TLS handshake (default `10s`).
    #[serde(default = "d_handshake", with = "humantime_serde_compat")]
    pub tls_handshake_timeout: Duration,
    /// After SIGINT/SIGTERM: how long in-flight requests may take (default `30s`).
    #[serde(default = "d_drain", with = "humantime_serde_compat")]
    pub drain_timeout: Duration,
}

fn d_header() -> Duration {
    remits_serve::Limits::default().header_read_timeout
}
fn d_idle() -> Duration {
    remits_serve::Limits::default().idle_timeout
}
fn d_header_bytes() -> usize {
    remits_serve::Limits::default().max_header_bytes
}
fn d_headers() -> usize {
    remits_serve::Limits::default().max_headers
}
fn d_conns() -> usize {
    remits_serve::Limits::default().max_connections
}
fn d_handshake() -> Duration {
    remits_serve::Limits::default().tls_handshake_timeout
}
fn d_drain() -> Duration {
    remits_serve::Limits::default().drain_timeout
}

impl Default for NetConfig {
    fn default() -> Self {
        let l = remits_serve::Limits::default();
        Self {
            header_read_timeout: l.header_read_timeout,
            idle_timeout: l.idle_timeout,
            max_header_bytes: l.max_header_bytes,
            max_headers: l.max_headers,
            max_connections: l.max_connections,
            tls_handshake_timeout: l.tls_handshake_timeout,
            drain_timeout: l.drain_timeout,
        }
    }
}

impl NetConfig {
    /// The serving limits.
    pub fn limits(&self) -> remits_serve::Limits {
        remits_serve::Limits {
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            max_header_bytes: self.max_header_bytes,
            max_headers: self.max_headers,
            max_connections: self.max_connections,
            tls_handshake_timeout: self.tls_handshake_timeout,
            drain_timeout: self.drain_timeout,
        }
    }
}

/// TLS files (PEM).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Which store holds resources, policies, reference values (and sessions).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `embedded` (default, a directory), `postgres`, or `memory` (tests only; lost on exit).
    #[serde(default)]
    pub backend: Backend,
    /// Directory of the embedded store.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// PostgreSQL URL (`postgres://user@host:port/db`) or libpq key=value string; its
    /// `sslmode`/`sslrootcert` are honoured. Fields it leaves out come from the standard `PG*`
    /// environment variables (`PGHOST`, `PGPORT`, `PGUSER`, `PGDATABASE`, `PGPASSWORD`,
    /// `PGSSLMODE`, `PGSSLROOTCERT`); absent = all of them from the environment.
    #[serde(default)]
    pub url: Option<String>,
    /// PostgreSQL TLS: `disable`, `require`, `verify-ca` or `verify-full` (overrides the URL).
    /// Default: `disable` when every host is loopback or a Unix socket, `verify-full` otherwise.
    #[serde(default)]
    pub sslmode: Option<PgSslMode>,
    /// PEM file of the CA(s) the PostgreSQL server certificate must chain to (`verify-ca`,
    /// `verify-full`).
    #[serde(default)]
    pub ssl_root_cert: Option<PathBuf>,
    /// File holding the PostgreSQL password (a final newline is ignored); overrides the URL and
    /// `PGPASSWORD`.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// PostgreSQL connection-pool size per broker (default 16).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// File holding the 32-byte key-encryption key for secrets at rest (32 raw bytes or 64 hex
    /// characters; must not be readable or writable by group or others). Required for the
    /// persistent backends unless `allow_plaintext` is set.
    #[serde(default)]
    pub kek_file: Option<PathBuf>,
    /// Run a persistent backend without `kek_file`, keeping resources (secrets) in clear in the
    /// database (default `false`: the broker refuses to start instead).
    #[serde(default)]
    pub allow_plaintext: bool,
    /// Where sessions live: `store` (shared; required for replicas) or `memory` (this
    /// process only). Default: `store` for postgres, `memory` otherwise.
    #[serde(default)]
    pub sessions: Option<SessionPlace>,
    /// Local file keeping the highest version of every sealed value this broker has seen
    /// (rollback detection, see docs/broker.md). A value older than its mark is refused. Must
    /// be local to this broker (not in the database) and private to its user. Default: none
    /// (no rollback detection).
    #[serde(default)]
    pub rollback_marks_file: Option<std::path::PathBuf>,
}

/// PostgreSQL `sslmode` (see [`remits_store::SslMode`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PgSslMode {
    /// Plain TCP.
    Disable,
    /// TLS, server certificate not checked.
    Require,
    /// TLS, certificate chains to `ssl_root_cert`, any host name.
    VerifyCa,
    /// TLS, certificate chains to `ssl_root_cert` and names the host.
    VerifyFull,
}

impl From<PgSslMode> for remits_store::SslMode {
    fn from(m: PgSslMode) -> Self {
        match m {
            PgSslMode::Disable => remits_store::SslMode::Disable,
            PgSslMode::Require => remits_store::SslMode::Require,
            PgSslMode::VerifyCa => remits_store::SslMode::VerifyCa,
            PgSslMode::VerifyFull => remits_store::SslMode::VerifyFull,
        }
    }
}

/// Storage backend kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// One redb file in `dir`.
    #[default]
    Embedded,
    /// PostgreSQL at `url`.
    Postgres,
    /// In memory.
    Memory,
}

/// Where sessions are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionPlace {
    /// In the configured store (shared by replicas).
    Store,
    /// In this process's memory.
    Memory,
}

/// Admin API configuration; no keys = admin API disabled.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Longest accepted admin JWT lifetime (`exp - iat`, humantime, default `1h`).
    #[serde(default = "default_admin_lifetime", with = "humantime_serde_compat")]
    pub max_token_lifetime: Duration,
    /// Public keys (Ed25519 or P-256 SPKI PEM files).
    #[serde(default)]
    pub keys: Vec<AdminKeyFile>,
    /// When set, admin JWTs must carry this `iss` (`remits-broker admin` sends
    /// `remits-admin` unless given `--issuer`).
    #[serde(default)]
    pub issuer: Option<String>,
    /// When set, admin JWTs must carry this audience in `aud` (`remits-broker admin
    /// --audience`).
    #[serde(default)]
    pub audience: Option<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            max_token_lifetime: default_admin_lifetime(),
            keys: Vec::new(),
            issuer: None,
            audience: None,
        }
    }
}

/// One admin key.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminKeyFile {
    /// Name used in audit logs and matched against the JWT `kid`.
    pub name: String,
    /// PEM file with the public key.
    pub public_key: PathBuf,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_session_ttl() -> Duration {
    Duration::from_secs(300)
}
fn default_max_body() -> usize {
    2 << 20
}
fn default_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_max_connections() -> usize {
    16
}
fn default_max_pending() -> usize {
    crate::server::DEFAULT_MAX_PENDING_SESSIONS
}
fn default_admin_lifetime() -> Duration {
    Duration::from_secs(3600)
}

/// Configuration errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config {path}: {reason}")]
    Read {
        /// File.
        path: String,
        /// Why.
        reason: String,
    },
    /// The TOML is invalid or has unknown keys.
    #[error("config: {0}")]
    Parse(String),
    /// A combination of options is refused.
    #[error("config: {0}")]
    Invalid(String),
}

impl BrokerConfig {
    /// Reads and validates a TOML file.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Read`] when the file cannot be read, [`ConfigError::Parse`] when it is not
    /// valid TOML of this schema, [`ConfigError::Invalid`] as [`BrokerConfig::validate`].
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = remits_evidence::input::read_capped_string(
            path,
            remits_evidence::input::MAX_INPUT_FILE,
            "config",
        )
        .map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        // Position and reason only: the file may be a secret given here by mistake, and TOML's
        // own message quotes the offending line.
        let cfg: Self = toml::from_str(&text).map_err(|e| {
            ConfigError::Parse(format!(
                "{}: {}",
                path.display(),
                remits_evidence::parse_error::toml(&e, &text)
            ))
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks option combinations.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the option combination that cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.tls.is_none() && !self.listen.ip().is_loopback() && !self.insecure_http {
            return Err(ConfigError::Invalid(format!(
                "listen = {} is not loopback: configure [tls] or set insecure_http = true",
                self.listen
            )));
        }
        match self.storage.backend {
            Backend::Embedded if self.storage.dir.is_none() => Err(ConfigError::Invalid(
                "storage.backend = \"embedded\" needs storage.dir".into(),
            )),
            Backend::Postgres if !(1..=1000).contains(&self.storage.max_connections) => Err(
                ConfigError::Invalid("storage.max_connections must be between 1 and 1000".into()),
            ),
            _ => Ok(()),
        }?;
        let persistent = matches!(self.storage.backend, Backend::Embedded | Backend::Postgres);
        if persistent && self.storage.kek_file.is_none() && !self.storage.allow_plaintext {
            return Err(ConfigError::Invalid(
                "storage: a persistent backend needs storage.kek_file (the key that seals secrets \
                 at rest: 32 random bytes, e.g. `openssl rand -hex 32 > kek; chmod 600 kek`), or \
                 storage.allow_plaintext = true to keep secrets in clear in the database"
                    .into(),
            ));
        }
        if self.max_body_bytes == 0 || self.max_body_bytes > (64 << 20) {
            return Err(ConfigError::Invalid(
                "max_body_bytes must be between 1 and 64 MiB".into(),
            ));
        }
        if self.request_timeout.is_zero() {
            return Err(ConfigError::Invalid(
                "request_timeout must be positive".into(),
            ));
        }
        if self.max_pending_sessions == 0 || self.max_pending_sessions > 10_000_000 {
            return Err(ConfigError::Invalid(
                "max_pending_sessions must be between 1 and 10,000,000".into(),
            ));
        }
        if self.sev.session_ttl.is_zero() || self.sev.session_ttl > Duration::from_secs(3600) {
            return Err(ConfigError::Invalid(
                "sev.session_ttl must be between 1s and 1h".into(),
            ));
        }
        if self.sev.max_pending_sessions == 0 || self.sev.max_pending_sessions > 1_000_000 {
            return Err(ConfigError::Invalid(
                "sev.max_pending_sessions must be between 1 and 1,000,000".into(),
            ));
        }
        self.net
            .limits()
            .validate_with_request_timeout(self.request_timeout)
            .map_err(|e| ConfigError::Invalid(format!("net.{e}")))?;
        Ok(())
    }
}

/// `humantime` strings (`"5m"`, `"30s"`) for `Duration` fields.
mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[storage]\nbackend = \"memory\"\n";

    #[test]
    fn net_defaults_are_safe_and_configurable() {
        let cfg: BrokerConfig = toml::from_str(MINIMAL).unwrap();
        cfg.validate().unwrap();
        let l = cfg.net.limits();
        assert!(l.header_read_timeout <= Duration::from_secs(30));
        assert!(l.idle_timeout > cfg.request_timeout);
        assert_eq!(cfg.max_pending_sessions, 100_000);
        let cfg: BrokerConfig = toml::from_str(&format!(
            "max_pending_sessions = 7\n[net]\nheader_read_timeout = \"2s\"\nmax_connections = 9\n{MINIMAL}"
        ))
        .unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.max_pending_sessions, 7);
        assert_eq!(cfg.net.limits().header_read_timeout, Duration::from_secs(2));
        assert_eq!(cfg.net.limits().max_connections, 9);
    }

    #[test]
    fn bad_net_values_refused() {
        for bad in [
            "[net]\nidle_timeout = \"10s\"\n",
            "[net]\nheader_read_timeout = \"0s\"\n",
            "[net]\nmax_header_bytes = 10\n",
            "max_pending_sessions = 0\n",
            "[net]\nunknown = 1\n",
        ] {
            let parsed: Result<BrokerConfig, _> = toml::from_str(&format!("{bad}{MINIMAL}"));
            if let Ok(cfg) = parsed {
                assert!(cfg.validate().is_err(), "{bad}");
            }
        }
    }
}
