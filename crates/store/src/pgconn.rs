//! How the PostgreSQL store connects: connection string, `PG*` environment variables, password
//! file, TLS (rustls) with libpq's `sslmode` values.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, DigitallySignedStruct, Error as TlsError, RootCertStore, SignatureScheme,
};
use rustls_ring as rustls;
use tokio_postgres::config::{Host, SslMode as PgSslMode};
use tokio_postgres_rustls::MakeRustlsConnect;
use zeroize::Zeroizing;

use crate::pgopts::{PostgresOptions, SslMode};
use crate::StoreError;

/// A resolved connection: the tokio-postgres configuration and its TLS connector.
pub(crate) struct Resolved {
    pub(crate) config: tokio_postgres::Config,
    pub(crate) tls: MakeRustlsConnect,
    /// `host:port` for error messages (never the password).
    pub(crate) target: String,
}

/// Removes `sslmode` and `sslrootcert` from a URL query or a key=value string (tokio-postgres
/// knows only some `sslmode` values and no `sslrootcert`) and returns them.
fn take_ssl_params(url: &str) -> (String, Option<String>, Option<String>) {
    let (mut mode, mut root) = (None, None);
    let mut take = |k: &str, v: &str| match k {
        "sslmode" => {
            mode = Some(v.to_owned());
            true
        }
        "sslrootcert" => {
            root = Some(v.to_owned());
            true
        }
        _ => false,
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_owned(), None, None);
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                !take(k, v)
            })
            .collect();
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return (rest, mode, root);
    }
    let kept: Vec<&str> = url
        .split_whitespace()
        .filter(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            !take(k.trim(), v.trim_matches('\''))
        })
        .collect();
    (kept.join(" "), mode, root)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn read_small(path: &Path, what: &str) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    use std::io::Read;
    let f = std::fs::File::open(path)
        .map_err(|e| StoreError::postgres(format!("{what} {}: {e}", path.display())))?;
    let mut buf = Zeroizing::new(Vec::new());
    f.take(1 << 20)
        .read_to_end(&mut buf)
        .map_err(|e| StoreError::postgres(format!("{what} {}: {e}", path.display())))?;
    Ok(buf)
}

fn is_local(config: &tokio_postgres::Config) -> bool {
    config.get_hosts().iter().all(|h| match h {
        #[cfg(unix)]
        Host::Unix(_) => true,
        Host::Tcp(name) => {
            name == "localhost"
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
    })
}

/// `host:port[,host:port…]` of a configuration, for messages.
pub(crate) fn describe(config: &tokio_postgres::Config) -> String {
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match h {
                Host::Tcp(n) => format!("{n}:{port}"),
                #[cfg(unix)]
                Host::Unix(p) => format!("{}/.s.PGSQL.{port}", p.display()),
            }
        })
        .collect();
    if hosts.is_empty() {
        "<no host>".into()
    } else {
        hosts.join(",")
    }
}

/// Builds the configuration and connector from the options and the environment.
pub(crate) fn resolve(opts: &PostgresOptions) -> Result<Resolved, StoreError> {
    let (url, url_mode, url_root) = take_ssl_params(&opts.url);
    let mut config = tokio_postgres::Config::from_str(&url)
        .map_err(|e| StoreError::postgres(format!("invalid connection string: {e}")))?;
    if config.get_hosts().is_empty() {
        let host = env("PGHOST").unwrap_or_else(|| "localhost".into());
        for h in host.split(',') {
            config.host(h);
        }
    }
    if config.get_ports().is_empty() {
        if let Some(p) = env("PGPORT") {
            let port = p
                .parse::<u16>()
                .map_err(|_| StoreError::postgres("PGPORT is not a port number"))?;
            config.port(port);
        }
    }
    if config.get_user().is_none() {
        if let Some(u) = env("PGUSER") {
            config.user(u);
        }
    }
    if config.get_dbname().is_none() {
        if let Some(d) = env("PGDATABASE") {
            config.dbname(d);
        }
    }
    if let Some(p) = &opts.password_file {
        let mut pw = read_small(p, "password file")?;
        while pw.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            pw.pop();
        }
        config.password(pw.as_slice());
    } else if config.get_password().is_none() {
        if let Some(pw) = env("PGPASSWORD") {
            config.password(Zeroizing::new(pw).as_bytes());
        }
    }
    let mode = match (opts.sslmode, url_mode.or_else(|| env("PGSSLMODE"))) {
        (Some(m), _) => m,
        (None, Some(s)) => s.parse()?,
        (None, None) if is_local(&config) => SslMode::Disable,
        (None, None) => SslMode::VerifyFull,
    };
    let root = opts
        .ssl_root_cert
        .clone()
        .or(url_root.map(PathBuf::from))
        .or(env("PGSSLROOTCERT").map(PathBuf::from));
    config.ssl_mode(match mode {
        SslMode::Disable => PgSslMode::Disable,
        _ => PgSslMode::Require,
    });
    let target = describe(&config);
    let tls = MakeRustlsConnect::new(client_config(mode, root.as_deref())?);
    Ok(Resolved {
        config,
        tls,
        target,
    })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_config(mode: SslMode, root: Option<&Path>) -> Result<ClientConfig, StoreError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::postgres(format!("TLS: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        SslMode::Disable | SslMode::Require => Arc::new(NoVerify(provider())),
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let path = root.ok_or_else(|| {
                StoreError::postgres(
                    "sslmode verify-ca/verify-full needs a CA file (ssl_root_cert, sslrootcert \
                     or PGSSLROOTCERT)",
                )
            })?;
            let pem = read_small(path, "CA file")?;
            let mut roots = RootCertStore::empty();
            for c in rustls_pemfile::certs(&mut pem.as_slice()) {
                let c = c.map_err(|e| {
                    StoreError::postgres(format!("CA file {}: {e}", path.display()))
                })?;
                roots.add(c).map_err(|e| {
                    StoreError::postgres(format!("CA file {}: {e}", path.display()))
                })?;
            }
            if roots.is_empty() {
                return Err(StoreError::postgres(format!(
                    "CA file {}: no PEM certificate",
                    path.display()
                )));
            }
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| StoreError::postgres(format!("TLS: {e}")))?;
            if mode == SslMode::VerifyCa {
                Arc::new(AnyName(webpki))
            } else {
                webpki
            }
        }
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// `sslmode=require`: any certificate (signatures of the handshake are still checked).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `sslmode=verify-ca`: the chain is verified, a certificate for another name is accepted.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(TlsError::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(TlsError::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_params_are_taken_out_of_both_forms() {
        let (u, m, r) = take_ssl_params(
            "postgresql://u@h:5/db?sslmode=verify-full&application_name=x&sslrootcert=/ca.pem",
        );
        assert_eq!(u, "postgresql://u@h:5/db?application_name=x");
        assert_eq!(m.as_deref(), Some("verify-full"));
        assert_eq!(r.as_deref(), Some("/ca.pem"));
        let (u, m, r) = take_ssl_params("host=h port=5 sslmode=require user=u");
        assert_eq!(u, "host=h port=5 user=u");
        assert_eq!(m.as_deref(), Some("require"));
        assert_eq!(r, None);
        assert!("prefer".parse::<SslMode>().is_err());
    }

    #[test]
    fn defaults_and_errors_never_show_the_password() {
        let r = resolve(&PostgresOptions::new(
            "postgresql://u:hunter2@127.0.0.1:6543/db",
        ))
        .unwrap();
        assert_eq!(r.target, "127.0.0.1:6543");
        assert_eq!(
            r.config.get_ssl_mode(),
            PgSslMode::Disable,
            "loopback: plain by default"
        );
        // A remote host defaults to verify-full, which needs a CA file.
        let e = resolve(&PostgresOptions::new(
            "postgresql://u:hunter2@db.example:5432/db",
        ))
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("CA file") && !e.contains("hunter2"), "{e}");
        let e = resolve(&PostgresOptions::new(
            "postgresql://u:hunter2@h:notaport/db",
        ))
        .err()
        .unwrap()
        .to_string();
        assert!(!e.contains("hunter2"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let r = resolve(&PostgresOptions {
            password_file: Some(pw),
            ..PostgresOptions::new("postgresql://u@127.0.0.1/db")
        })
        .unwrap();
        assert_eq!(r.config.get_password(), Some(&b"s3cret"[..]));
    }
}
