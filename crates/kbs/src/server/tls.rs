//! TLS for the broker with rustls (ring provider): configuration from PEM files. Handshakes
//! (with their timeout) and the connections after them are driven by `remits-serve`.

use std::path::Path;
use std::sync::Arc;

use rustls_ring::pki_types::pem::PemObject;
use rustls_ring::pki_types::{CertificateDer, PrivateKeyDer};

/// TLS set-up errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate chain file could not be read or holds no certificate.
    #[error("TLS certificate {path}: {reason}")]
    Cert {
        /// File.
        path: String,
        /// Why.
        reason: String,
    },
    /// The private key file could not be read.
    #[error("TLS private key {path}: {reason}")]
    Key {
        /// File.
        path: String,
        /// Why.
        reason: String,
    },
    /// rustls refused the pair.
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// Builds a server configuration (TLS 1.2 and 1.3, ALPN http/1.1) from PEM files.
///
/// # Errors
///
/// [`TlsError::Cert`] or [`TlsError::Key`] when a file cannot be read or parsed,
/// [`TlsError::Config`] when they do not form a configuration.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls_ring::ServerConfig>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| TlsError::Cert {
            path: cert.display().to_string(),
            reason: e.to_string(),
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Cert {
            path: cert.display().to_string(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Cert {
            path: cert.display().to_string(),
            reason: "no certificate found".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls_ring::crypto::ring::default_provider());
    let mut cfg = rustls_ring::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
