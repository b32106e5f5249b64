//! Delivering secrets into the workload: a private directory (0700, on tmpfs when available) and
//! all-or-nothing atomic writes (0600), so no reader ever sees a partial secret file.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::AttestError;

/// Whether `path` lies on a tmpfs/ramfs mount (per `/proc/self/mounts`).
pub fn is_tmpfs(path: &Path) -> bool {
    let Ok(mounts) = fs::read_to_string("/proc/self/mounts") else {
        return false;
    };
    let Ok(canon) = path.canonicalize() else {
        return false;
    };
    // The longest mount point that prefixes the path decides.
    let mut best: Option<(usize, bool)> = None;
    for line in mounts.lines() {
        let mut it = line.split_whitespace();
        let (Some(_dev), Some(mnt), Some(fstype)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let mnt = mnt.replace("\\040", " ");
        if canon.starts_with(&mnt) && best.is_none_or(|(len, _)| mnt.len() >= len) {
            best = Some((mnt.len(), fstype == "tmpfs" || fstype == "ramfs"));
        }
    }
    best.is_some_and(|(_, t)| t)
}

/// The default parent for a private secrets directory: `$XDG_RUNTIME_DIR` or `/dev/shm` when on
/// tmpfs, else the system temporary directory.
pub fn default_secrets_parent() -> PathBuf {
    let candidates = [
        std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
        Some(PathBuf::from("/dev/shm")),
    ];
    for c in candidates.into_iter().flatten() {
        if c.is_dir() && is_tmpfs(&c) {
            return c;
        }
    }
    std::env::temp_dir()
}

/// Creates a fresh private (0700) directory `remits-secrets-<random>` under `parent`.
pub fn create_private_dir(parent: &Path) -> Result<PathBuf, AttestError> {
    for _ in 0..16 {
        let mut r = [0u8; 8];
        getrandom(&mut r);
        let dir = parent.join(format!("remits-secrets-{}", hex::encode(r)));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                    .map_err(|e| AttestError::io(&dir, e))?;
                return Ok(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(AttestError::io(&dir, e)),
        }
    }
    Err(AttestError::Invalid {
        what: "secrets directory",
        reason: format!(
            "could not create a unique directory under {}",
            parent.display()
        ),
    })
}

fn getrandom(buf: &mut [u8]) {
    use rand_core::RngCore;
    rand_core::OsRng.fill_bytes(buf);
}

/// One secret to write.
pub struct Secret {
    /// Destination file.
    pub path: PathBuf,
    /// The bytes (zeroized on drop).
    pub value: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("path", &self.path)
            .field("len", &self.value.len())
            .finish()
    }
}

/// Writes one file atomically: a 0600 temporary file created exclusively in the destination's
/// directory, written, fsynced, then renamed over the destination. On any failure the temporary
/// file is removed, so the destination either holds the complete secret or is untouched.
pub fn write_secret_atomic(path: &Path, value: &[u8]) -> Result<(), AttestError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| AttestError::Invalid {
        what: "secret path",
        reason: format!("{} has no file name", path.display()),
    })?;
    if !dir.is_dir() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| AttestError::io(&dir, e))?;
    }
    let mut r = [0u8; 6];
    getrandom(&mut r);
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        hex::encode(r)
    ));
    let result = (|| -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(value)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        // Make the rename durable too (best effort on filesystems without directory fsync).
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(AttestError::io(path, e));
    }
    Ok(())
}

/// Writes every secret or none: on the first failure, files already written by this call are
/// removed again and the error is returned.
pub fn write_all_or_nothing(secrets: &[Secret]) -> Result<(), AttestError> {
    let mut written: Vec<&Path> = Vec::new();
    for s in secrets {
        if let Err(e) = write_secret_atomic(&s.path, &s.value) {
            for p in written {
                let _ = fs::remove_file(p);
            }
            return Err(e);
        }
        written.push(&s.path);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_dir_and_atomic_files_have_private_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = create_private_dir(tmp.path()).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        let f = dir.join("key");
        write_secret_atomic(&f, b"v1").unwrap();
        write_secret_atomic(&f, b"v2").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"v2");
        assert_eq!(mode(&f), 0o600);
        // Only the file itself: no temporary left behind.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[test]
    fn all_or_nothing_rolls_back() {
        let tmp = tempfile::tempdir().unwrap();
        let blocker = tmp.path().join("file");
        fs::write(&blocker, b"").unwrap();
        let secrets = [
            Secret {
                path: tmp.path().join("a"),
                value: Zeroizing::new(b"a".to_vec()),
            },
            Secret {
                path: blocker.join("b"),
                value: Zeroizing::new(b"b".to_vec()),
            },
        ];
        assert!(write_all_or_nothing(&secrets).is_err());
        assert!(!tmp.path().join("a").exists());
        let left: Vec<_> = fs::read_dir(tmp.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }
}
