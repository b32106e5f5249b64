//! The key-encryption key.

use std::fmt;
use std::io::Write;
use std::path::Path;

use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, Zeroizing};

use crate::StoreError;

/// A 256-bit key-encryption key (KEK). Every value the persistent stores write is sealed under
/// it (AES-256-GCM). The bytes are zeroized on drop and never printed.
#[derive(Clone)]
pub struct Kek(Zeroizing<[u8; 32]>);

impl Kek {
    /// A KEK from raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let mut b = bytes;
        let k = Kek(Zeroizing::new(b));
        b.zeroize();
        k
    }

    /// A fresh random KEK.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(k.as_mut());
        Kek(k)
    }

    /// Reads a KEK file: exactly 32 raw bytes, or 64 hex characters (surrounding whitespace,
    /// e.g. a final newline, is ignored).
    ///
    /// On Unix the file is refused when group or others have any permission on it (mode must be
    /// `0600` or `0400`): whoever reads the KEK and a copy of the database reads every secret,
    /// and whoever can replace it can make the broker seal new secrets under their key.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when the file cannot be read, [`StoreError::KekFile`] when its mode lets
    /// group or others in or its content is neither 32 raw bytes nor 64 hex characters.
    pub fn from_file(path: &Path) -> Result<Self, StoreError> {
        let bad = |reason: &str| StoreError::KekFile {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|e| bad(&e.to_string()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(bad(&format!(
                    "mode {:04o} gives group or others access; the KEK decrypts every stored \
                     secret, so it must be private to the broker's user (chmod 600)",
                    mode & 0o7777
                )));
            }
        }
        let data = Zeroizing::new(read_kek_file(path).map_err(|e| bad(&e))?);
        if let Ok(raw) = <[u8; 32]>::try_from(data.as_slice()) {
            // 32 bytes that are not all hex digits: raw key. (32 hex digits are only 16 bytes.)
            return Ok(Kek::from_bytes(raw));
        }
        let text = data.trim_ascii();
        if text.len() != 64 {
            return Err(bad("expected 32 raw bytes or 64 hex characters"));
        }
        let mut k = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text, k.as_mut())
            .map_err(|_| bad("expected 32 raw bytes or 64 hex characters"))?;
        Ok(Kek(k))
    }

    /// Generates a KEK and writes it as 64 hex characters and a newline to a NEW file `path`
    /// (mode 0600 on Unix; fails if the file exists). Used by the broker's `--dev` mode.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when the file exists already or cannot be created, written or synced.
    pub fn generate_file(
        path: &Path,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Self, StoreError> {
        let kek = Kek::generate(rng);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let io = |op, source| StoreError::Io {
            op,
            path: path.to_owned(),
            source,
        };
        let mut f = opts.open(path).map_err(|e| io("create", e))?;
        let mut text = Zeroizing::new(hex::encode(kek.0.as_ref()));
        text.push('\n');
        f.write_all(text.as_bytes()).map_err(|e| io("write", e))?;
        f.sync_all().map_err(|e| io("fsync", e))?;
        Ok(kek)
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kek(<redacted>)")
    }
}

/// Reads at most 256 bytes (a key file is 32 raw bytes or 64 hex digits), enforced while
/// reading; a larger file, a device or a FIFO that keeps streaming is refused.
fn read_kek_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    f.take(257)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    if buf.len() > 256 {
        return Err("file is larger than a 32-byte key".into());
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_private(path: &Path, data: &[u8]) {
        std::fs::write(path, data).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    #[cfg(unix)]
    #[test]
    fn group_or_world_accessible_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kek");
        write_private(&p, "ab".repeat(32).as_bytes());
        Kek::from_file(&p).unwrap();
        for mode in [0o640, 0o604, 0o660, 0o644, 0o610] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = Kek::from_file(&p).unwrap_err().to_string();
            assert!(e.contains("chmod 600"), "{mode:o}: {e}");
        }
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o400)).unwrap();
        Kek::from_file(&p).unwrap();
    }

    #[test]
    fn file_forms() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("raw");
        write_private(&raw, &[7u8; 32]);
        assert_eq!(Kek::from_file(&raw).unwrap().bytes(), &[7u8; 32]);

        let hexf = dir.path().join("hex");
        write_private(&hexf, format!("{}\n", "ab".repeat(32)).as_bytes());
        assert_eq!(Kek::from_file(&hexf).unwrap().bytes(), &[0xab; 32]);

        for bad in [
            &b"short"[..],
            &[b'z'; 64][..],
            &[1u8; 33][..],
            &[b'a'; 300][..],
        ] {
            write_private(&hexf, bad);
            assert!(matches!(
                Kek::from_file(&hexf),
                Err(StoreError::KekFile { .. })
            ));
        }
        assert!(Kek::from_file(&dir.path().join("missing")).is_err());

        let gen = dir.path().join("gen");
        let k = Kek::generate_file(&gen, &mut rand_core::OsRng).unwrap();
        assert_eq!(Kek::from_file(&gen).unwrap().bytes(), k.bytes());
        assert!(
            Kek::generate_file(&gen, &mut rand_core::OsRng).is_err(),
            "never overwrites"
        );
        assert_eq!(format!("{k:?}"), "Kek(<redacted>)");
    }
}
