//! The embedded store: one `redb` file, fsynced before every acknowledgement.

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableTable, TableDefinition};
use tokio::sync::oneshot;
use zeroize::Zeroizing;

use crate::changes::ChangeEpochs;
use crate::memory::same_value;
use crate::seal::Sealer;
use crate::{Kek, Namespace, Store, StoreError, StoreOptions};

/// `(namespace, key) -> (expires_at as nanoseconds since the Unix epoch, stored bytes)`.
type KvKey = (&'static str, &'static str);
type KvValue = (Option<u64>, &'static [u8]);
const KV: TableDefinition<KvKey, KvValue> = TableDefinition::new("remits_kv");
/// `name -> bytes`: `key_check` (see [`crate::seal`]).
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("remits_meta");
/// The database file inside the store directory.
pub const FILE_NAME: &str = "remits.redb";
/// Most operations committed together by one fsync.
const MAX_BATCH: usize = 512;

fn to_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn from_nanos(n: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(n)
}

/// A write operation for the writer thread.
enum Work {
    Put {
        ns: Namespace,
        key: String,
        stored: Vec<u8>,
        expires_at: Option<u64>,
    },
    Delete {
        ns: Namespace,
        key: String,
    },
    Cas {
        ns: Namespace,
        key: String,
        expected: Option<Zeroizing<Vec<u8>>>,
        new_stored: Option<Vec<u8>>,
        expires_at: Option<u64>,
    },
    Purge,
}

/// Where the result of a [`Work`] goes.
enum Reply {
    Unit(oneshot::Sender<Result<(), StoreError>>),
    Bool(oneshot::Sender<Result<bool, StoreError>>),
    Count(oneshot::Sender<Result<u64, StoreError>>),
}

/// The result of one [`Work`], sent only after its batch committed.
enum Outcome {
    Unit,
    Bool(Result<bool, StoreError>),
    Count(u64),
}

impl Reply {
    fn send(self, outcome: Outcome) {
        // A caller that gave up (dropped its future) does not care about the reply.
        match (self, outcome) {
            (Reply::Unit(tx), Outcome::Unit) => drop(tx.send(Ok(()))),
            (Reply::Bool(tx), Outcome::Bool(r)) => drop(tx.send(r)),
            (Reply::Count(tx), Outcome::Count(n)) => drop(tx.send(Ok(n))),
            (r, _) => r.fail(&StoreError::embedded("internal: reply/outcome mismatch")),
        }
    }

    fn fail(self, e: &StoreError) {
        let err = || StoreError::embedded(e);
        match self {
            Reply::Unit(tx) => drop(tx.send(Err(err()))),
            Reply::Bool(tx) => drop(tx.send(Err(err()))),
            Reply::Count(tx) => drop(tx.send(Err(err()))),
        }
    }
}

type Op = (Work, Reply);

/// A store in one `redb` file (`<dir>/remits.redb`): ACID, crash-safe, no setup.
///
/// Durability: every write transaction commits with `Durability::Immediate` (fsync) before the
/// write is acknowledged; writes that arrive while a commit is in progress are committed together
/// by the next one (group commit), each still acknowledged only after its fsync. Reads run on
/// the blocking thread pool and see the last committed state. One process at a time may open a
/// directory (redb holds a file lock).
pub struct EmbeddedStore {
    db: Arc<Database>,
    sealer: Sealer,
    opts: StoreOptions,
    path: PathBuf,
    tx: Option<mpsc::Sender<Op>>,
    writer: Option<JoinHandle<()>>,
    epochs: ChangeEpochs,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .field("encrypted", &self.sealer.encrypts())
            .finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in `dir` with default options. With a `kek`, every
    /// value is encrypted at rest; the KEK must be the one the store was created with
    /// ([`StoreError::KekMismatch`] otherwise). Without one, [`Namespace::Resource`] is refused.
    pub fn open(dir: &Path, kek: Option<Kek>) -> Result<Self, StoreError> {
        Self::open_with(dir, kek, StoreOptions::default())
    }

    /// Like [`EmbeddedStore::open`], with options.
    pub fn open_with(dir: &Path, kek: Option<Kek>, opts: StoreOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            op: "create directory",
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join(FILE_NAME);
        let db = Database::create(&path).map_err(|e| StoreError::Backend {
            backend: "embedded",
            reason: format!("open {}: {e}", path.display()),
        })?;
        let sealer = Sealer::new(kek.as_ref(), &opts);
        drop(kek);
        init(&db, &sealer)?;
        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel();
        let writer = {
            let db = db.clone();
            let sealer = sealer.clone();
            let opts = opts.clone();
            std::thread::Builder::new()
                .name("remits-store-writer".into())
                .spawn(move || writer_loop(&db, &sealer, &opts, &rx))
                .map_err(|source| StoreError::Io {
                    op: "spawn writer thread for",
                    path: path.clone(),
                    source,
                })?
        };
        Ok(EmbeddedStore {
            db,
            sealer,
            opts,
            path,
            tx: Some(tx),
            writer: Some(writer),
            epochs: ChangeEpochs::new(true),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn submit<T>(
        &self,
        work: Work,
        reply: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Reply,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send((work, reply(tx)))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database, &Sealer, &StoreOptions) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db.clone();
        let sealer = self.sealer.clone();
        let opts = self.opts.clone();
        tokio::task::spawn_blocking(move || f(&db, &sealer, &opts))
            .await
            .map_err(StoreError::embedded)?
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // Closing the channel stops the writer after its current batch; joining it releases the
        // database file so the directory can be reopened at once.
        self.tx.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

fn init(db: &Database, sealer: &Sealer) -> Result<(), StoreError> {
    let w = db.begin_write().map_err(StoreError::embedded)?;
    {
        w.open_table(KV).map_err(StoreError::embedded)?;
        let mut meta = w.open_table(META).map_err(StoreError::embedded)?;
        let existing = meta
            .get("key_check")
            .map_err(StoreError::embedded)?
            .map(|g| g.value().to_vec());
        match existing {
            Some(rec) => sealer.verify_key_check(&rec)?,
            None => {
                let rec = sealer.key_check()?;
                meta.insert("key_check", rec.as_slice())
                    .map_err(StoreError::embedded)?;
            }
        }
    }
    w.commit().map_err(StoreError::embedded)
}

fn writer_loop(db: &Database, sealer: &Sealer, opts: &StoreOptions, rx: &mpsc::Receiver<Op>) {
    while let Ok(first) = rx.recv() {
        let mut works = vec![first.0];
        let mut replies = vec![first.1];
        while works.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok((w, r)) => {
                    works.push(w);
                    replies.push(r);
                }
                Err(_) => break,
            }
        }
        match apply_batch(db, sealer, opts, works) {
            Ok(outcomes) => replies
                .into_iter()
                .zip(outcomes)
                .for_each(|(r, o)| r.send(o)),
            Err(e) => replies.into_iter().for_each(|r| r.fail(&e)),
        }
    }
}

/// Applies a batch in one write transaction committed with fsync. A stored value that does not
/// decrypt is that operation's own result; a storage failure aborts the whole batch (nothing of
/// it is applied and every caller gets the error).
fn apply_batch(
    db: &Database,
    sealer: &Sealer,
    opts: &StoreOptions,
    works: Vec<Work>,
) -> Result<Vec<Outcome>, StoreError> {
    let now = to_nanos(opts.clock.now());
    let live = |exp: Option<u64>| exp.is_none_or(|e| e > now);
    let mut w = db.begin_write().map_err(StoreError::embedded)?;
    w.set_durability(redb::Durability::Immediate);
    let mut outcomes = Vec::with_capacity(works.len());
    {
        let mut t = w.open_table(KV).map_err(StoreError::embedded)?;
        for work in works {
            outcomes.push(match work {
                Work::Put {
                    ns,
                    key,
                    stored,
                    expires_at,
                } => {
                    t.insert((ns.as_str(), key.as_str()), (expires_at, stored.as_slice()))
                        .map_err(StoreError::embedded)?;
                    Outcome::Unit
                }
                Work::Delete { ns, key } => {
                    let old = t
                        .remove((ns.as_str(), key.as_str()))
                        .map_err(StoreError::embedded)?;
                    Outcome::Bool(Ok(old.is_some_and(|g| live(g.value().0))))
                }
                Work::Cas {
                    ns,
                    key,
                    expected,
                    new_stored,
                    expires_at,
                } => Outcome::Bool(cas_one(
                    &mut t, sealer, &live, ns, &key, expected, new_stored, expires_at,
                )?),
                Work::Purge => {
                    let mut n = 0u64;
                    t.retain(|_, (exp, _)| {
                        let keep = live(exp);
                        n += u64::from(!keep);
                        keep
                    })
                    .map_err(StoreError::embedded)?;
                    Outcome::Count(n)
                }
            });
        }
    }
    w.commit().map_err(StoreError::embedded)?;
    Ok(outcomes)
}

/// One compare-and-swap inside the batch's transaction. The outer `Result` is a storage
/// failure (aborts the batch); the inner one is this operation's own result.
#[allow(clippy::too_many_arguments)]
fn cas_one(
    t: &mut redb::Table<'_, KvKey, KvValue>,
    sealer: &Sealer,
    live: &dyn Fn(Option<u64>) -> bool,
    ns: Namespace,
    key: &str,
    expected: Option<Zeroizing<Vec<u8>>>,
    new_stored: Option<Vec<u8>>,
    expires_at: Option<u64>,
) -> Result<Result<bool, StoreError>, StoreError> {
    let current = {
        let g = t.get((ns.as_str(), key)).map_err(StoreError::embedded)?;
        match g {
            Some(g) if live(g.value().0) => match sealer.open(ns, key, g.value().1) {
                Ok(v) => Some(v),
                Err(e) => return Ok(Err(e)),
            },
            _ => None,
        }
    };
    if !same_value(
        current.as_deref().map(Vec::as_slice),
        expected.as_deref().map(Vec::as_slice),
    ) {
        return Ok(Ok(false));
    }
    match new_stored {
        Some(v) => {
            t.insert((ns.as_str(), key), (expires_at, v.as_slice()))
                .map_err(StoreError::embedded)?;
        }
        None => {
            t.remove((ns.as_str(), key)).map_err(StoreError::embedded)?;
        }
    }
    Ok(Ok(true))
}

#[async_trait::async_trait]
impl Store for EmbeddedStore {
    async fn get(
        &self,
        ns: Namespace,
        key: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        self.opts.check_key(ns, key)?;
        self.sealer.check_ns(ns)?;
        let key = key.to_owned();
        self.read(move |db, sealer, opts| {
            let r = db.begin_read().map_err(StoreError::embedded)?;
            let t = r.open_table(KV).map_err(StoreError::embedded)?;
            let Some(g) = t
                .get((ns.as_str(), key.as_str()))
                .map_err(StoreError::embedded)?
            else {
                return Ok(None);
            };
            let (exp, stored) = g.value();
            if !opts.live(exp.map(from_nanos)) {
                return Ok(None);
            }
            sealer.open(ns, &key, stored).map(Some)
        })
        .await
    }

    async fn put(
        &self,
        ns: Namespace,
        key: &str,
        value: &[u8],
        expires_at: Option<SystemTime>,
    ) -> Result<(), StoreError> {
        self.opts.check_key(ns, key)?;
        self.opts.check_value(ns, value)?;
        let stored = self.sealer.seal(ns, key, value)?;
        let key = key.to_owned();
        let work = Work::Put {
            ns,
            key,
            stored,
            expires_at: expires_at.map(to_nanos),
        };
        let r = self.submit(work, Reply::Unit).await;
        self.epochs.bump(ns);
        r
    }

    async fn delete(&self, ns: Namespace, key: &str) -> Result<bool, StoreError> {
        self.opts.check_key(ns, key)?;
        self.sealer.check_ns(ns)?;
        let key = key.to_owned();
        let r = self.submit(Work::Delete { ns, key }, Reply::Bool).await;
        self.epochs.bump(ns);
        r
    }

    async fn list(&self, ns: Namespace, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.opts.check_prefix(ns, prefix)?;
        self.sealer.check_ns(ns)?;
        let prefix = prefix.to_owned();
        self.read(move |db, _, opts| {
            let r = db.begin_read().map_err(StoreError::embedded)?;
            let t = r.open_table(KV).map_err(StoreError::embedded)?;
            let mut out = Vec::new();
            let range = t
                .range((ns.as_str(), prefix.as_str())..)
                .map_err(StoreError::embedded)?;
            for item in range {
                let (k, v) = item.map_err(StoreError::embedded)?;
                let (kns, key) = k.value();
                if kns != ns.as_str() || !key.starts_with(prefix.as_str()) {
                    break;
                }
                if opts.live(v.value().0.map(from_nanos)) {
                    out.push(key.to_owned());
                }
            }
            Ok(out)
        })
        .await
    }

    async fn compare_and_swap(
        &self,
        ns: Namespace,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        expires_at: Option<SystemTime>,
    ) -> Result<bool, StoreError> {
        self.opts.check_key(ns, key)?;
        self.sealer.check_ns(ns)?;
        let new_stored = match new {
            Some(v) => {
                self.opts.check_value(ns, v)?;
                Some(self.sealer.seal(ns, key, v)?)
            }
            None => None,
        };
        let expected = expected.map(|e| Zeroizing::new(e.to_vec()));
        let key = key.to_owned();
        let work = Work::Cas {
            ns,
            key,
            expected,
            new_stored,
            expires_at: expires_at.map(to_nanos),
        };
        let r = self.submit(work, Reply::Bool).await;
        self.epochs.bump(ns);
        r
    }

    async fn purge_expired(&self) -> Result<u64, StoreError> {
        let r = self.submit(Work::Purge, Reply::Count).await;
        self.epochs.bump_all();
        r
    }

    fn change_epoch(&self, ns: Namespace) -> Option<u64> {
        // One process at a time opens the file: every change is a local write.
        self.epochs.get(ns)
    }
}
