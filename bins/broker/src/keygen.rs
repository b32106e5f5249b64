//! `remits-broker keygen`: the production key files (generation lives in the libraries; this
//! module only names the files and writes them, mode 0600, never over an existing file).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::ValueEnum;
use remits_kbs::admin::AdminSigningKey;

/// Which key to generate.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum KeyKind {
    /// Admin signing key: P-256 private key (PKCS#8 PEM) to --out, its public half (SPKI PEM,
    /// for `[[admin.keys]] public_key`) to --pub or next to it.
    Admin,
    /// EAR token signing key (`attestation.token_signing_key`): P-256 PKCS#8 PEM; with --pub,
    /// also its public half (SPKI PEM) for relying parties.
    TokenKey,
    /// Key-encryption key (`storage.kek_file`): 64 hex characters and a newline.
    Kek,
}

/// The default public-key path next to `out`: `admin.pem` → `admin.pub.pem`, `admin` →
/// `admin.pub`.
fn pub_path_next_to(out: &Path) -> PathBuf {
    match out.to_str().and_then(|s| s.strip_suffix(".pem")) {
        Some(stem) => PathBuf::from(format!("{stem}.pub.pem")),
        None => {
            let mut s = out.as_os_str().to_owned();
            s.push(".pub");
            PathBuf::from(s)
        }
    }
}

/// Refuses before anything is written if any target exists (no half-written pair).
fn refuse_existing(paths: &[&Path]) -> anyhow::Result<()> {
    for p in paths {
        anyhow::ensure!(
            std::fs::symlink_metadata(p).is_err(),
            "{} exists: keygen never overwrites a key (move it away first)",
            p.display()
        );
    }
    Ok(())
}

/// Writes a private file, then its public half; removes the private file if the public one
/// cannot be written, so a failed run leaves nothing behind.
fn write_pair(
    private: &Path,
    private_pem: &[u8],
    public: &Path,
    public_pem: &[u8],
) -> anyhow::Result<()> {
    crate::dev::write_new(private, private_pem, 0o600)?;
    if let Err(e) = crate::dev::write_new(public, public_pem, 0o600) {
        let _ = std::fs::remove_file(private);
        return Err(e);
    }
    Ok(())
}

/// Generates `kind` into `out` (and `public`); returns what to tell the operator.
pub(crate) fn run(kind: KeyKind, out: &Path, public: Option<PathBuf>) -> anyhow::Result<String> {
    let mut rng = rand::rngs::OsRng;
    match kind {
        KeyKind::Admin => {
            let public = public.unwrap_or_else(|| pub_path_next_to(out));
            refuse_existing(&[out, &public])?;
            let key = AdminSigningKey::generate_p256(&mut rng);
            write_pair(
                out,
                key.to_pem()?.as_bytes(),
                &public,
                key.public_pem()?.as_bytes(),
            )?;
            Ok(format!(
                "admin key (P-256, ES256): private {} (keep it off the broker host), public {} \
                 (configure it as [[admin.keys]] public_key)",
                out.display(),
                public.display()
            ))
        }
        KeyKind::TokenKey => {
            let (private, public_pem) = remits_verify::generate_signing_key_pem(&mut rng)?;
            match public {
                Some(public) => {
                    refuse_existing(&[out, &public])?;
                    write_pair(out, private.as_bytes(), &public, public_pem.as_bytes())?;
                    Ok(format!(
                        "token signing key (P-256, ES256): {} (attestation.token_signing_key; \
                         the same file on every replica), public {}",
                        out.display(),
                        public.display()
                    ))
                }
                None => {
                    refuse_existing(&[out])?;
                    crate::dev::write_new(out, private.as_bytes(), 0o600)?;
                    Ok(format!(
                        "token signing key (P-256, ES256): {} (attestation.token_signing_key; \
                         the same file on every replica)",
                        out.display()
                    ))
                }
            }
        }
        KeyKind::Kek => {
            anyhow::ensure!(
                public.is_none(),
                "--pub applies to admin and token-key only"
            );
            refuse_existing(&[out])?;
            remits_store::Kek::generate_file(out, &mut rng)
                .with_context(|| format!("writing the KEK to {}", out.display()))?;
            Ok(format!(
                "KEK (32 random bytes as 64 hex characters): {} (storage.kek_file; the same \
                 file on every replica; back it up: without it the stored secrets are lost)",
                out.display()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_path_next_to_private() {
        assert_eq!(
            pub_path_next_to(Path::new("/k/admin.pem")),
            Path::new("/k/admin.pub.pem")
        );
        assert_eq!(
            pub_path_next_to(Path::new("/k/admin")),
            Path::new("/k/admin.pub")
        );
    }
}
