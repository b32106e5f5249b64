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
use crate::seal::{normalize_expiry, peek_version, Sealer};
use crate::{
    check_transaction, Expect, Kek, Namespace, RollbackMarks, Store, StoreError, StoreOptions,
    TxWrite,
};

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
    /// Values travel in clear to the writer, which picks their version and seals them.
    Put {
        ns: Namespace,
        key: String,
        value: Zeroizing<Vec<u8>>,
        expires_at: Option<SystemTime>,
    },
    Delete {
        ns: Namespace,
        key: String,
    },
    Cas {
        ns: Namespace,
        key: String,
        expected: Option<Zeroizing<Vec<u8>>>,
        new: Option<Zeroizing<Vec<u8>>>,
        expires_at: Option<SystemTime>,
    },
    Purge,
    /// A multi-key transaction ([`Store::transact`]): all conditions, then all writes.
    Txn(Vec<OwnedWrite>),
}

/// A [`TxWrite`] that owns its key and values (it travels to the writer thread).
struct OwnedWrite {
    ns: Namespace,
    key: String,
    /// `None` = any; `Some(None)` = absent; `Some(Some(v))` = exactly `v`.
    expect: Option<Option<Zeroizing<Vec<u8>>>>,
    new: Option<Zeroizing<Vec<u8>>>,
    expires_at: Option<SystemTime>,
}

/// Where the result of a [`Work`] goes.
enum Reply {
    Unit(oneshot::Sender<Result<(), StoreError>>),
    Bool(oneshot::Sender<Result<bool, StoreError>>),
    Count(oneshot::Sender<Result<u64, StoreError>>),
}

/// The result of one [`Work`], sent only after its batch committed.
enum Outcome {
    Unit(Result<(), StoreError>),
    Bool(Result<bool, StoreError>),
    Count(u64),
}

impl Reply {
    fn send(self, outcome: Outcome) {
        // A caller that gave up (dropped its future) does not care about the reply.
        match (self, outcome) {
            (Reply::Unit(tx), Outcome::Unit(r)) => drop(tx.send(r)),
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
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when `dir` cannot be created or opened, [`StoreError::Backend`] when the
    /// database fails to open, [`StoreError::KekMismatch`] for another KEK than the store's,
    /// [`StoreError::Rollback`] or [`StoreError::MarksFile`] when the rollback marks refuse it.
    pub fn open(dir: &Path, kek: Option<Kek>) -> Result<Self, StoreError> {
        Self::open_with(dir, kek, StoreOptions::default())
    }

    /// Like [`EmbeddedStore::open`], with options.
    ///
    /// # Errors
    ///
    /// As [`EmbeddedStore::open`].
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
        let max_version = init(&db, &sealer)?;
        let next_version = max_version
            .max(opts.rollback_marks.as_ref().map_or(0, |m| m.max()))
            .saturating_add(1);
        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel();
        let writer = {
            let db = db.clone();
            let sealer = sealer.clone();
            let opts = opts.clone();
            std::thread::Builder::new()
                .name("remits-store-writer".into())
                .spawn(move || writer_loop(&db, &sealer, &opts, &rx, next_version))
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

/// Creates the tables, checks the KEK; returns the highest value version in the file.
fn init(db: &Database, sealer: &Sealer) -> Result<u64, StoreError> {
    let w = db.begin_write().map_err(StoreError::embedded)?;
    let mut max_version = 0;
    {
        let kv = w.open_table(KV).map_err(StoreError::embedded)?;
        for item in kv.iter().map_err(StoreError::embedded)? {
            let (_, v) = item.map_err(StoreError::embedded)?;
            if let Some(version) = peek_version(v.value().1) {
                max_version = max_version.max(version);
            }
        }
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
    w.commit().map_err(StoreError::embedded)?;
    Ok(max_version)
}

/// The writer thread. `next_version`: above every version in the file and every rollback mark;
/// one process at a time opens the file and this thread does every write, so each new value
/// gets `max(previous version + 1, next_version)` in commit order.
fn writer_loop(
    db: &Database,
    sealer: &Sealer,
    opts: &StoreOptions,
    rx: &mpsc::Receiver<Op>,
    mut next_version: u64,
) {
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
        let mut written = Vec::new();
        let r = apply_batch(db, sealer, opts, works, &mut next_version, &mut written)
            .and_then(|outcomes| record_marks(opts, sealer, &written).map(|()| outcomes));
        match r {
            Ok(outcomes) => replies
                .into_iter()
                .zip(outcomes)
                .for_each(|(r, o)| r.send(o)),
            Err(e) => replies.into_iter().for_each(|r| r.fail(&e)),
        }
    }
}

/// Raises the rollback marks to the versions a committed batch wrote and writes the marks file
/// before any caller is answered.
fn record_marks(
    opts: &StoreOptions,
    sealer: &Sealer,
    written: &[(Namespace, String, u64)],
) -> Result<(), StoreError> {
    let Some(marks) = opts.rollback_marks.as_ref().filter(|_| sealer.encrypts()) else {
        return Ok(());
    };
    let mut moved = false;
    for (ns, key, v) in written {
        moved |= marks.observe(*ns, key, *v, true)?;
    }
    if moved {
        marks.persist()?;
    }
    Ok(())
}

/// The version for a new value of `ns` at a key whose current version is `prev` (from the
/// stored envelope header): `max(prev + 1, next)`. Sessions (no rollback marks) use 0.
fn pick_version(ns: Namespace, prev: Option<u64>, next: &mut u64) -> u64 {
    if !RollbackMarks::tracks(ns) {
        return 0;
    }
    let v = prev.unwrap_or(0).saturating_add(1).max(*next);
    *next = v.saturating_add(1);
    v
}

/// Applies a batch in one write transaction committed with fsync. A stored value that does not
/// decrypt (or is rolled back, or cannot be sealed) is that operation's own result; a storage
/// failure aborts the whole batch (nothing of it is applied and every caller gets the error).
/// `written` receives the `(namespace, key, version)` of every value written.
fn apply_batch(
    db: &Database,
    sealer: &Sealer,
    opts: &StoreOptions,
    works: Vec<Work>,
    next: &mut u64,
    written: &mut Vec<(Namespace, String, u64)>,
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
                    value,
                    expires_at,
                } => {
                    let version = {
                        let g = t
                            .get((ns.as_str(), key.as_str()))
                            .map_err(StoreError::embedded)?;
                        pick_version(ns, g.as_ref().and_then(|g| peek_version(g.value().1)), next)
                    };
                    match sealer.seal(ns, &key, &value, version, expires_at) {
                        Ok(stored) => {
                            t.insert(
                                (ns.as_str(), key.as_str()),
                                (expires_at.map(to_nanos), stored.as_slice()),
                            )
                            .map_err(StoreError::embedded)?;
                            written.push((ns, key, version));
                            Outcome::Unit(Ok(()))
                        }
                        Err(e) => Outcome::Unit(Err(e)),
                    }
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
                    new,
                    expires_at,
                } => {
                    let r = cas_one(
                        &mut t,
                        sealer,
                        opts,
                        &live,
                        next,
                        ns,
                        &key,
                        expected,
                        new.as_ref(),
                        expires_at,
                    )?;
                    Outcome::Bool(r.map(|(swapped, version)| {
                        if let Some(version) = version {
                            written.push((ns, key, version));
                        }
                        swapped
                    }))
                }
                Work::Txn(ops) => {
                    let r = txn_one(&mut t, sealer, opts, &live, next, ops)?;
                    Outcome::Bool(r.map(|(swapped, versions)| {
                        written.extend(versions);
                        swapped
                    }))
                }
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
/// failure (aborts the batch); the inner one is this operation's own result: whether it swapped,
/// and the version of the value written, if one was.
#[allow(clippy::too_many_arguments)]
fn cas_one(
    t: &mut redb::Table<'_, KvKey, KvValue>,
    sealer: &Sealer,
    opts: &StoreOptions,
    live: &dyn Fn(Option<u64>) -> bool,
    next: &mut u64,
    ns: Namespace,
    key: &str,
    expected: Option<Zeroizing<Vec<u8>>>,
    new: Option<&Zeroizing<Vec<u8>>>,
    expires_at: Option<SystemTime>,
) -> Result<Result<(bool, Option<u64>), StoreError>, StoreError> {
    let mut prev_version = None;
    let current = {
        let g = t.get((ns.as_str(), key)).map_err(StoreError::embedded)?;
        if let Some(g) = &g {
            prev_version = peek_version(g.value().1);
        }
        match g {
            Some(g) if live(g.value().0) => {
                let (exp, stored) = g.value();
                match sealer
                    .open(ns, key, exp.map(from_nanos), stored)
                    .and_then(|(v, version)| opts.check_mark(ns, key, version).map(|()| v))
                {
                    Ok(v) => Some(v),
                    Err(e) => return Ok(Err(e)),
                }
            }
            _ => None,
        }
    };
    if !same_value(
        current.as_deref().map(Vec::as_slice),
        expected.as_deref().map(Vec::as_slice),
    ) {
        return Ok(Ok((false, None)));
    }
    match new {
        Some(v) => {
            let version = pick_version(ns, prev_version, next);
            let stored = match sealer.seal(ns, key, v, version, expires_at) {
                Ok(s) => s,
                Err(e) => return Ok(Err(e)),
            };
            t.insert(
                (ns.as_str(), key),
                (expires_at.map(to_nanos), stored.as_slice()),
            )
            .map_err(StoreError::embedded)?;
            Ok(Ok((true, Some(version))))
        }
        None => {
            t.remove((ns.as_str(), key)).map_err(StoreError::embedded)?;
            Ok(Ok((true, None)))
        }
    }
}

/// Versions written by a transaction.
type Written = Vec<(Namespace, String, u64)>;

/// One multi-key transaction inside the batch's transaction: every condition is checked and
/// every new value sealed before anything is written, so a failed condition or a sealing error
/// leaves the batch untouched. The outer `Result` is a storage failure (aborts the batch).
fn txn_one(
    t: &mut redb::Table<'_, KvKey, KvValue>,
    sealer: &Sealer,
    opts: &StoreOptions,
    live: &dyn Fn(Option<u64>) -> bool,
    next: &mut u64,
    ops: Vec<OwnedWrite>,
) -> Result<Result<(bool, Written), StoreError>, StoreError> {
    let mut prev = Vec::with_capacity(ops.len());
    for op in &ops {
        let g = t
            .get((op.ns.as_str(), op.key.as_str()))
            .map_err(StoreError::embedded)?;
        let mut prev_version = None;
        let current = match g {
            Some(g) => {
                prev_version = peek_version(g.value().1);
                let (exp, stored) = g.value();
                if live(exp) && op.expect.is_some() {
                    match sealer
                        .open(op.ns, &op.key, exp.map(from_nanos), stored)
                        .and_then(|(v, version)| {
                            opts.check_mark(op.ns, &op.key, version).map(|()| v)
                        }) {
                        Ok(v) => Some(v),
                        Err(e) => return Ok(Err(e)),
                    }
                } else {
                    None
                }
            }
            None => None,
        };
        if let Some(expected) = &op.expect {
            if !same_value(
                current.as_deref().map(Vec::as_slice),
                expected.as_deref().map(Vec::as_slice),
            ) {
                return Ok(Ok((false, Vec::new())));
            }
        }
        prev.push(prev_version);
    }
    let mut sealed = Vec::with_capacity(ops.len());
    for (op, prev_version) in ops.iter().zip(prev) {
        match &op.new {
            Some(v) => {
                let version = pick_version(op.ns, prev_version, next);
                match sealer.seal(op.ns, &op.key, v, version, op.expires_at) {
                    Ok(s) => sealed.push(Some((s, version))),
                    Err(e) => return Ok(Err(e)),
                }
            }
            None => sealed.push(None),
        }
    }
    let mut written = Vec::new();
    for (op, s) in ops.into_iter().zip(sealed) {
        match s {
            Some((stored, version)) => {
                t.insert(
                    (op.ns.as_str(), op.key.as_str()),
                    (op.expires_at.map(to_nanos), stored.as_slice()),
                )
                .map_err(StoreError::embedded)?;
                written.push((op.ns, op.key, version));
            }
            None => {
                t.remove((op.ns.as_str(), op.key.as_str()))
                    .map_err(StoreError::embedded)?;
            }
        }
    }
    Ok(Ok((true, written)))
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
        let key2 = key.clone();
        let r = self
            .read(move |db, sealer, opts| {
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
                sealer.open(ns, &key, exp.map(from_nanos), stored).map(Some)
            })
            .await?;
        match r {
            Some((v, version)) => {
                self.opts.observe(ns, &key2, version, false).await?;
                Ok(Some(v))
            }
            None => Ok(None),
        }
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
        self.sealer.check_ns(ns)?;
        let work = Work::Put {
            ns,
            key: key.to_owned(),
            value: Zeroizing::new(value.to_vec()),
            expires_at: normalize_expiry(expires_at),
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
        if let Some(v) = new {
            self.opts.check_value(ns, v)?;
        }
        let work = Work::Cas {
            ns,
            key: key.to_owned(),
            expected: expected.map(|e| Zeroizing::new(e.to_vec())),
            new: new.map(|v| Zeroizing::new(v.to_vec())),
            expires_at: normalize_expiry(expires_at),
        };
        let r = self.submit(work, Reply::Bool).await;
        self.epochs.bump(ns);
        r
    }

    async fn transact(&self, writes: &[TxWrite<'_>]) -> Result<bool, StoreError> {
        check_transaction(&self.opts, writes)?;
        for w in writes {
            self.sealer.check_ns(w.ns)?;
        }
        let ops = writes
            .iter()
            .map(|w| OwnedWrite {
                ns: w.ns,
                key: w.key.to_owned(),
                expect: match w.expect {
                    Expect::Any => None,
                    Expect::Absent => Some(None),
                    Expect::Value(v) => Some(Some(Zeroizing::new(v.to_vec()))),
                },
                new: w.new.map(|v| Zeroizing::new(v.to_vec())),
                expires_at: normalize_expiry(w.expires_at),
            })
            .collect();
        let r = self.submit(Work::Txn(ops), Reply::Bool).await;
        for w in writes {
            self.epochs.bump(w.ns);
        }
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
