//! PostgreSQL connection options: plain data, available without the `postgres` feature so a
//! configuration can name the backend (opening it then fails with
//! [`StoreError::BackendNotBuilt`](crate::StoreError::BackendNotBuilt) when the feature is off).

use std::path::PathBuf;
use std::str::FromStr;

use crate::StoreError;

/// libpq's `sslmode` values that the store supports (`allow`/`prefer` would silently fall
/// back to plain text, so they are not offered).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SslMode {
    /// Plain TCP (or a Unix socket). Only for loopback or a trusted network.
    Disable,
    /// TLS required, the server certificate is not checked: protects against passive
    /// eavesdropping only.
    Require,
    /// TLS with a server certificate chaining to the configured CA; the host name is not checked.
    VerifyCa,
    /// TLS with a server certificate chaining to the configured CA and naming the host (or IP
    /// address) connected to. The default.
    #[default]
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "disable" => Ok(SslMode::Disable),
            "require" => Ok(SslMode::Require),
            "verify-ca" => Ok(SslMode::VerifyCa),
            "verify-full" => Ok(SslMode::VerifyFull),
            other => Err(StoreError::postgres(format!(
                "sslmode {:?} is not supported (disable, require, verify-ca or verify-full)",
                other.chars().take(32).collect::<String>()
            ))),
        }
    }
}

/// How to reach the database. Each field left unset falls back to the connection string, then
/// to the standard libpq environment variable (`PGHOST`, `PGPORT`, `PGUSER`, `PGDATABASE`,
/// `PGPASSWORD`, `PGSSLMODE`, `PGSSLROOTCERT`).
#[derive(Clone, Debug, Default)]
pub struct PostgresOptions {
    /// libpq-style URL or key=value string; `sslmode` and `sslrootcert` in it are honoured.
    /// May be empty (everything from the environment).
    pub url: String,
    /// TLS mode (overrides the URL's). Default when set nowhere: `disable` when every host is
    /// loopback or a Unix socket, `verify-full` otherwise.
    pub sslmode: Option<SslMode>,
    /// PEM file of the CA(s) the server certificate must chain to (`verify-ca`, `verify-full`).
    pub ssl_root_cert: Option<PathBuf>,
    /// File whose content (a final newline removed) is the password; overrides the URL and
    /// `PGPASSWORD`.
    pub password_file: Option<PathBuf>,
    /// Connection-pool size (at least 1; default 16 when 0).
    pub max_connections: usize,
}

impl PostgresOptions {
    /// Options for a connection string, everything else default.
    pub fn new(url: impl Into<String>) -> Self {
        PostgresOptions {
            url: url.into(),
            ..Default::default()
        }
    }
}
