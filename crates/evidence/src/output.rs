//! Writing key and session files: created new (never overwriting), with a given mode, fsynced.

use std::io::Write;
use std::path::Path;

/// Writes `data` to a new file `path` created with `mode` (Unix permissions); fails if the file
/// exists, so a key is never silently replaced. The data is fsynced before returning.
///
/// # Errors
///
/// The I/O error when the file exists already, cannot be created with `mode`, written or synced.
pub fn write_new(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn creates_private_and_never_overwrites() {
        let d = std::env::temp_dir().join(format!("remits-output-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("k");
        write_new(&p, b"one", 0o600).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(write_new(&p, b"two", 0o600).is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
