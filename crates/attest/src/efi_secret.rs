//! SEV launch-secret injection (pre-attestation).
//!
//! Guest owner's side: [`build_secret_table`] lays out the EFI secret table that the firmware
//! places in guest memory (what `sev-inject-launch-secret` carries); the format lives in
//! [`remits_sev::table`], with the guest owner's session and packet code.
//!
//! Guest side: Linux's `efi_secret` driver exposes each entry as
//! `/sys/kernel/security/secrets/coco/<guid>`; unlinking the file wipes the secret from memory.
//! [`read_injected_secret`] reads one and deletes it, so it is read at most once.

use std::path::Path;

use uuid::Uuid;
use zeroize::Zeroizing;

use crate::AttestError;

pub use remits_sev::table::{
    SecretEntry, DEFAULT_MAX_TABLE_LEN, ENTRY_HEADER_LEN, SECRET_TABLE_HEADER_GUID,
};

/// Where the `efi_secret` driver exposes the secrets.
pub const DEFAULT_SECURITYFS_DIR: &str = "/sys/kernel/security/secrets/coco";

fn guid(s: &str) -> Result<Uuid, AttestError> {
    Uuid::parse_str(s).map_err(|e| AttestError::Invalid {
        what: "GUID",
        reason: format!("{s:?}: {e}"),
    })
}

fn table_error(e: remits_sev::Error) -> AttestError {
    AttestError::Invalid {
        what: "secret table",
        reason: e.to_string(),
    }
}

/// Builds the secret table from `(guid, value)` pairs (see [`remits_sev::table`]). GUIDs must
/// be distinct and non-nil; the table must fit in `max_len` bytes.
///
/// # Errors
///
/// [`AttestError::Invalid`] for a duplicate or nil GUID or a table larger than `max_len`.
pub fn build_secret_table(
    secrets: &[(&str, &[u8])],
    max_len: usize,
) -> Result<Zeroizing<Vec<u8>>, AttestError> {
    remits_sev::table::build_secret_table(secrets, max_len).map_err(table_error)
}

/// Parses a secret table (the inverse of [`build_secret_table`]), skipping wiped (nil-GUID)
/// entries, as the guest driver does. Returns `(guid, value)` pairs.
///
/// # Errors
///
/// [`AttestError::Invalid`] when the table is malformed (header, lengths, GUIDs).
pub fn parse_secret_table(table: &[u8]) -> Result<Vec<SecretEntry>, AttestError> {
    remits_sev::table::parse_secret_table(table).map_err(table_error)
}

/// Reads the injected secret `guid` from `dir` (the securityfs directory, configurable for
/// tests) and deletes the file, which makes the kernel wipe it. At most 64 KiB.
///
/// # Errors
///
/// [`AttestError::Invalid`] for a malformed GUID or a file over 64 KiB, [`AttestError::Io`] when it
/// cannot be read or deleted.
pub fn read_injected_secret(dir: &Path, guid_str: &str) -> Result<Zeroizing<Vec<u8>>, AttestError> {
    let id = guid(guid_str)?;
    let path = dir.join(id.to_string());
    let value = Zeroizing::new(crate::read_limited(&path, 64 * 1024)?);
    std::fs::remove_file(&path).map_err(|e| AttestError::io(&path, e))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const G1: &str = "736869e5-84f0-4973-92ec-06879ce3da0b";
    const G2: &str = "b81f5a1a-7f77-4b34-8c5e-6c1c4d8d7e2a";

    /// The layout and every refusal are tested in `remits_sev::table`; here only that the
    /// wrappers delegate and map refusals to `AttestError::Invalid`.
    #[test]
    fn table_wrappers_delegate_to_remits_sev() {
        let t = build_secret_table(&[(G1, b"disk key"), (G2, b"")], DEFAULT_MAX_TABLE_LEN).unwrap();
        assert_eq!(
            &t[..],
            &remits_sev::table::build_secret_table(&[(G1, b"disk key"), (G2, b"")], 4096).unwrap()
                [..]
        );
        let parsed = parse_secret_table(&t).unwrap();
        assert_eq!(
            (parsed[0].0.as_str(), &parsed[0].1[..]),
            (G1, &b"disk key"[..])
        );
        assert!(matches!(
            build_secret_table(&[(G1, b"a"), (G1, b"b")], 4096),
            Err(AttestError::Invalid {
                what: "secret table",
                ..
            })
        ));
        assert!(matches!(
            parse_secret_table(&t[..10]),
            Err(AttestError::Invalid {
                what: "secret table",
                ..
            })
        ));
    }

    #[test]
    fn injected_secret_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(G1), b"launch secret").unwrap();
        let v = read_injected_secret(dir.path(), G1).unwrap();
        assert_eq!(&v[..], b"launch secret");
        assert!(!dir.path().join(G1).exists());
        assert!(read_injected_secret(dir.path(), G1).is_err());
    }
}
