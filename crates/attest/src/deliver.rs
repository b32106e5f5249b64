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
///
/// # Errors
///
/// [`AttestError::Io`] when the directory cannot be created.
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

/// The directory a destination lives in (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes one file atomically: a 0600 temporary file created exclusively in the destination's
/// directory, written, fsynced, then renamed over the destination. On any failure the temporary
/// file is removed, so the destination either holds the complete secret or is untouched.
/// A missing parent directory is created (0700).
///
/// # Errors
///
/// [`AttestError::Io`] when the temporary file cannot be created, written, synced or renamed;
/// [`AttestError::Invalid`] when the parent directory is missing.
pub fn write_secret_atomic(path: &Path, value: &[u8]) -> Result<(), AttestError> {
    let dir = parent_dir(path);
    if !dir.is_dir() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| AttestError::io(&dir, e))?;
    }
    write_in_existing_dir(path, &dir, value)
}

fn write_in_existing_dir(path: &Path, dir: &Path, value: &[u8]) -> Result<(), AttestError> {
    let name = path.file_name().ok_or_else(|| AttestError::Invalid {
        what: "secret path",
        reason: format!("{} has no file name", path.display()),
    })?;
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
        if let Ok(d) = fs::File::open(dir) {
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

/// What one step of [`write_all_or_nothing`] did, so that it can be undone.
enum Undo {
    /// A directory this run created (removed again if still empty).
    Dir(PathBuf),
    /// A file that did not exist before (removed).
    Created(PathBuf),
    /// A file that existed before: its original inode is kept under `backup` (a hard link, or
    /// a copy where linking is refused) in the same directory and renamed back.
    Replaced { path: PathBuf, backup: PathBuf },
}

/// Creates the missing ancestors of `dir` one by one (0700), recording each for rollback.
fn create_dirs(dir: &Path, undo: &mut Vec<Undo>) -> Result<(), AttestError> {
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.as_os_str().is_empty() || fs::symlink_metadata(d).is_ok() {
            break;
        }
        missing.push(d.to_path_buf());
        cur = d.parent();
    }
    for d in missing.into_iter().rev() {
        match fs::DirBuilder::new().mode(0o700).create(&d) {
            Ok(()) => undo.push(Undo::Dir(d)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(AttestError::io(&d, e)),
        }
    }
    Ok(())
}

/// Keeps the current content of `path` under a fresh name in its directory: a hard link to
/// the same inode (bytes, mode and owner unchanged), else an exclusive 0600 copy with the
/// original's mode.
fn backup(path: &Path, dir: &Path) -> Result<PathBuf, AttestError> {
    backup_inner(path, dir, true)
}

fn backup_inner(path: &Path, dir: &Path, link: bool) -> Result<PathBuf, AttestError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let name = name.unwrap_or_default();
    let mut last = None;
    for _ in 0..16 {
        let mut r = [0u8; 6];
        getrandom(&mut r);
        let b = dir.join(format!(".{name}.{}.bak", hex::encode(r)));
        if link {
            match fs::hard_link(path, &b) {
                Ok(()) => return Ok(b),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => last = Some(e),
            }
        }
        // Linking refused (fs.protected_hardlinks, a filesystem without links): copy.
        let copied = (|| -> std::io::Result<()> {
            let mut src = fs::File::open(path)?;
            let perm = src.metadata()?.permissions();
            let mut dst = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&b)?;
            std::io::copy(&mut src, &mut dst)?;
            dst.set_permissions(perm)?;
            dst.sync_all()
        })();
        match copied {
            Ok(()) => return Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                let _ = fs::remove_file(&b);
                last = Some(e);
            }
        }
    }
    Err(AttestError::io(
        path,
        last.unwrap_or_else(|| std::io::Error::other("no free backup name")),
    ))
}

fn rollback(undo: Vec<Undo>) {
    for u in undo.into_iter().rev() {
        match u {
            Undo::Created(p) => {
                let _ = fs::remove_file(p);
            }
            Undo::Replaced { path, backup } => {
                if let Err(e) = fs::rename(&backup, &path) {
                    tracing::error!(
                        path = %path.display(),
                        backup = %backup.display(),
                        error = %e,
                        "could not restore the original file; it is kept under the backup name"
                    );
                }
            }
            Undo::Dir(d) => {
                let _ = fs::remove_dir(d);
            }
        }
    }
}

/// Writes every secret or none. Each file is written atomically ([`write_secret_atomic`]);
/// on the first failure everything this call did is undone, in reverse order:
///
/// * files it created are removed, and so are directories it created (when empty);
/// * a file that existed before is **never deleted**: before it is replaced, its inode is
///   kept under a temporary name in the same directory (a hard link, or a copy where linking
///   is not allowed) and renamed back, so it returns byte-identical (same inode, mode and
///   owner when linked).
///
/// After success the backups are removed.
///
/// # Errors
///
/// The first error of [`write_secret_atomic`] or of creating a directory, after everything done so
/// far was undone.
pub fn write_all_or_nothing(secrets: &[Secret]) -> Result<(), AttestError> {
    let mut undo: Vec<Undo> = Vec::new();
    let step = |s: &Secret, undo: &mut Vec<Undo>| -> Result<(), AttestError> {
        let dir = parent_dir(&s.path);
        create_dirs(&dir, undo)?;
        let existing = match fs::symlink_metadata(&s.path) {
            Ok(m) if m.is_dir() => {
                return Err(AttestError::io(
                    &s.path,
                    std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory"),
                ))
            }
            Ok(_) => Some(backup(&s.path, &dir)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(AttestError::io(&s.path, e)),
        };
        let r = write_in_existing_dir(&s.path, &dir, &s.value);
        match existing {
            Some(backup) => undo.push(Undo::Replaced {
                path: s.path.clone(),
                backup,
            }),
            None if r.is_ok() => undo.push(Undo::Created(s.path.clone())),
            None => {}
        }
        r
    };
    for s in secrets {
        if let Err(e) = step(s, &mut undo) {
            rollback(undo);
            return Err(e);
        }
    }
    for u in undo {
        if let Undo::Replaced { backup, .. } = u {
            let _ = fs::remove_file(backup);
        }
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

    /// A file that existed before the run is restored byte-identical (same inode, mode)
    /// when a later secret fails; files and directories the run created are gone; no backup
    /// or temporary file is left.
    #[test]
    fn rollback_restores_preexisting_file() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let old = d.join("config");
        let original: Vec<u8> = (0..=255u8)
            .chain(b"\n old secret \x00".iter().copied())
            .collect();
        fs::write(&old, &original).unwrap();
        fs::set_permissions(&old, fs::Permissions::from_mode(0o640)).unwrap();
        let before = fs::metadata(&old).unwrap();
        let blocker = d.join("blocker");
        fs::write(&blocker, b"").unwrap();
        let secrets = [
            Secret {
                path: d.join("new"),
                value: Zeroizing::new(b"n".to_vec()),
            },
            Secret {
                path: old.clone(),
                value: Zeroizing::new(b"replacement".to_vec()),
            },
            Secret {
                path: d.join("sub/dir/nested"),
                value: Zeroizing::new(b"x".to_vec()),
            },
            Secret {
                path: blocker.join("fails"),
                value: Zeroizing::new(b"y".to_vec()),
            },
        ];
        assert!(write_all_or_nothing(&secrets).is_err());
        assert_eq!(fs::read(&old).unwrap(), original);
        let after = fs::metadata(&old).unwrap();
        assert_eq!(after.ino(), before.ino());
        assert_eq!(after.mode(), before.mode());
        let mut left: Vec<_> = fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["blocker", "config"]);
    }

    /// On success the old content is replaced and its backup removed.
    #[test]
    fn success_replaces_and_leaves_no_backup() {
        let tmp = tempfile::tempdir().unwrap();
        let old = tmp.path().join("config");
        fs::write(&old, b"old").unwrap();
        let secrets = [Secret {
            path: old.clone(),
            value: Zeroizing::new(b"new".to_vec()),
        }];
        write_all_or_nothing(&secrets).unwrap();
        assert_eq!(fs::read(&old).unwrap(), b"new");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    /// Where hard links are refused the backup is a copy, restored the same way.
    #[test]
    fn copy_backup_restores() {
        let tmp = tempfile::tempdir().unwrap();
        let old = tmp.path().join("config");
        fs::write(&old, b"original bytes").unwrap();
        fs::set_permissions(&old, fs::Permissions::from_mode(0o640)).unwrap();
        let copy = backup_inner(&old, tmp.path(), false).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&copy), 0o640);
        write_secret_atomic(&old, b"new").unwrap();
        rollback(vec![Undo::Replaced {
            path: old.clone(),
            backup: copy,
        }]);
        assert_eq!(fs::read(&old).unwrap(), b"original bytes");
        assert_eq!(mode(&old), 0o640);
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }
}
