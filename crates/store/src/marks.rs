//! Rollback marks: the highest version of each key this process has seen, kept in a local file.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::{Namespace, StoreError};

const HEADER: &str = "remits-rollback-marks v1";
/// Largest marks file read (a line is at most ~2 KiB for a 1 KiB key; this allows many keys).
const MAX_FILE: u64 = 256 << 20;

/// High-water marks of sealed-value versions, per `(namespace, key)`, persisted in a local file.
///
/// Every sealed value carries an authenticated version that grows with each write of its key
/// ([`crate::seal`]). A store given marks ([`crate::StoreOptions::rollback_marks`]) records the
/// version of every value it writes or reads, and refuses to return a value whose version is
/// below the mark of its key ([`StoreError::Rollback`]): a row replaced by an older sealed row of
/// the same key (an old backup, a replayed row) is never served by a process that saw the newer
/// one. A mark that moves is written to the file (atomically: temporary file, fsync, rename,
/// fsync of the directory) before the value is returned, so marks survive a restart or a crash.
///
/// Marks are not kept for [`Namespace::Session`] (random one-use keys that expire within minutes:
/// keeping them would cost one fsync per handshake and grow without bound), nor for plaintext
/// stores (nothing is authenticated there). The file must be private to the broker and must not
/// live in the database it protects.
pub struct RollbackMarks {
    path: PathBuf,
    marks: Mutex<BTreeMap<(Namespace, String), u64>>,
    /// Bumped on every change of `marks`.
    generation: AtomicU64,
    /// Serializes file writes; holds the generation last written.
    persisted: Mutex<u64>,
}

impl std::fmt::Debug for RollbackMarks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RollbackMarks")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

fn bad_file(path: &Path, line: usize, reason: &str) -> StoreError {
    StoreError::MarksFile {
        path: path.to_owned(),
        reason: format!("line {line}: {reason}"),
    }
}

impl RollbackMarks {
    /// Loads the marks in `path`, or starts empty when the file does not exist (it is created on
    /// the first mark). A file that exists but cannot be parsed is an error (fail closed: an
    /// empty set of marks would accept any rollback).
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when the file exists but cannot be read, [`StoreError::MarksFile`] when
    /// it does not parse.
    pub fn open(path: &Path) -> Result<Arc<Self>, StoreError> {
        let mut marks = BTreeMap::new();
        match std::fs::File::open(path) {
            Ok(f) => {
                use std::io::Read;
                let mut text = String::new();
                f.take(MAX_FILE)
                    .read_to_string(&mut text)
                    .map_err(io("read", path))?;
                let mut lines = text.lines();
                if lines.next() != Some(HEADER) {
                    return Err(bad_file(path, 1, "not a rollback-marks file"));
                }
                for (i, line) in lines.enumerate() {
                    let n = i + 2;
                    let mut parts = line.splitn(3, ' ');
                    let (Some(v), Some(ns), Some(k)) = (parts.next(), parts.next(), parts.next())
                    else {
                        return Err(bad_file(path, n, "expected `version namespace hex-key`"));
                    };
                    let v: u64 = v.parse().map_err(|_| bad_file(path, n, "bad version"))?;
                    let ns: Namespace =
                        ns.parse().map_err(|_| bad_file(path, n, "bad namespace"))?;
                    let k = hex::decode(k)
                        .ok()
                        .and_then(|k| String::from_utf8(k).ok())
                        .ok_or_else(|| bad_file(path, n, "bad key"))?;
                    marks.insert((ns, k), v);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("open", path)(e)),
        }
        Ok(Arc::new(RollbackMarks {
            path: path.to_owned(),
            marks: Mutex::new(marks),
            generation: AtomicU64::new(0),
            persisted: Mutex::new(0),
        }))
    }

    /// The file the marks are kept in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(Namespace, String), u64>> {
        // Every update is a single map insert: a poisoned lock is still consistent.
        self.marks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The mark of `ns`/`key` (the highest version seen), if any.
    pub fn get(&self, ns: Namespace, key: &str) -> Option<u64> {
        self.lock().get(&(ns, key.to_owned())).copied()
    }

    /// The highest mark of any key (0 when there is none).
    #[cfg(feature = "redb")]
    pub(crate) fn max(&self) -> u64 {
        self.lock().values().copied().max().unwrap_or(0)
    }

    /// Whether marks are kept for `ns`.
    pub(crate) fn tracks(ns: Namespace) -> bool {
        !matches!(ns, Namespace::Session | Namespace::LaunchSession)
    }

    /// Checks `version` of `ns`/`key` against the mark and raises the mark to it. Returns
    /// whether the mark moved (the file must then be written, [`RollbackMarks::persist`]).
    /// `write`: the version was just written by this process (never refused: a concurrent
    /// write with a higher version may already have been seen).
    pub(crate) fn observe(
        &self,
        ns: Namespace,
        key: &str,
        version: u64,
        write: bool,
    ) -> Result<bool, StoreError> {
        if !Self::tracks(ns) {
            return Ok(false);
        }
        let mut marks = self.lock();
        let k = (ns, key.to_owned());
        match marks.get(&k) {
            Some(&seen) if version < seen && write => Ok(false),
            Some(&seen) if version < seen => Err(StoreError::Rollback {
                namespace: ns,
                key: StoreError::shown_key(ns, key),
                seen,
                found: version,
            }),
            Some(&seen) if version == seen => Ok(false),
            _ => {
                marks.insert(k, version);
                self.generation.fetch_add(1, Ordering::SeqCst);
                Ok(true)
            }
        }
    }

    /// Checks and raises the mark, then writes the file if it moved (on the blocking pool).
    pub(crate) async fn observe_persist(
        self: &Arc<Self>,
        ns: Namespace,
        key: &str,
        version: u64,
        write: bool,
    ) -> Result<(), StoreError> {
        if self.observe(ns, key, version, write)? {
            let me = self.clone();
            tokio::task::spawn_blocking(move || me.persist())
                .await
                .map_err(|e| StoreError::Io {
                    op: "write rollback marks",
                    path: self.path.clone(),
                    source: std::io::Error::other(e.to_string()),
                })??;
        }
        Ok(())
    }

    /// Writes every mark to the file unless a write already covered the current marks:
    /// temporary file in the same directory, fsync, rename over the file, fsync the directory.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when the temporary file cannot be written, synced or renamed.
    pub fn persist(&self) -> Result<(), StoreError> {
        let mut persisted = self.persisted.lock().unwrap_or_else(|p| p.into_inner());
        let generation = self.generation.load(Ordering::SeqCst);
        if *persisted >= generation && self.path.exists() {
            return Ok(());
        }
        let mut text = String::from(HEADER);
        text.push('\n');
        for ((ns, key), v) in self.lock().iter() {
            text.push_str(&format!("{v} {ns} {}\n", hex::encode(key)));
        }
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let tmp = self.path.with_extension("tmp");
        {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp).map_err(io("create", &tmp))?;
            f.write_all(text.as_bytes()).map_err(io("write", &tmp))?;
            f.sync_all().map_err(io("fsync", &tmp))?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io("rename into place", &self.path))?;
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io("fsync directory", &dir))?;
        *persisted = generation;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_refuse_older_versions_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("marks");
        let m = RollbackMarks::open(&path).unwrap();
        assert!(m.observe(Namespace::Resource, "a/b/c", 3, false).unwrap());
        assert!(!m.observe(Namespace::Resource, "a/b/c", 3, false).unwrap());
        assert!(m.observe(Namespace::Resource, "a/b/c", 5, false).unwrap());
        assert!(m.observe(Namespace::Config, "x y\nz", 1, false).unwrap());
        // Sessions are not tracked.
        assert!(!m.observe(Namespace::Session, "s", 9, false).unwrap());
        m.persist().unwrap();
        let again = RollbackMarks::open(&path).unwrap();
        assert_eq!(again.get(Namespace::Resource, "a/b/c"), Some(5));
        assert_eq!(again.get(Namespace::Config, "x y\nz"), Some(1));
        assert_eq!(again.max(), 5);
        match again.observe(Namespace::Resource, "a/b/c", 4, false) {
            Err(StoreError::Rollback { seen, found, .. }) => assert_eq!((seen, found), (5, 4)),
            other => panic!("{other:?}"),
        }
        std::fs::write(&path, "garbage\n").unwrap();
        assert!(matches!(
            RollbackMarks::open(&path),
            Err(StoreError::MarksFile { .. })
        ));
    }
}
