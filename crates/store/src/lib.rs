//! Storage for the broker: resources (secrets), resource and attestation policies, reference
//! values, session state and configuration, behind one async [`Store`] trait.
//!
//! Backends:
//! - [`MemoryStore`]: in process, for tests and development; nothing survives a restart.
//!   Always compiled.
//! - `EmbeddedStore` (feature `redb`): one `redb` file in a directory; ACID, every write is
//!   fsynced before the call returns (writes arriving together share one fsync: group commit).
//! - `PostgresStore` (feature `postgres`): PostgreSQL, shared by several broker replicas;
//!   compare-and-swap is a single transaction with a row lock, so it is atomic across replicas.
//!
//! Without features the crate is the [`Store`] trait and [`MemoryStore`] (what the verifier
//! library needs). [`open`] opens a [`Backend`] named at run time and fails with
//! [`StoreError::BackendNotBuilt`] for one whose feature is off.
//!
//! At rest (embedded and PostgreSQL), when a `Kek` is configured every value is sealed with
//! AES-256-GCM under a fresh random nonce, bound to its namespace, key, version and expiry (see
//! `seal`); with `RollbackMarks` a store refuses values older than ones it has seen. Without
//! a KEK the persistent stores refuse [`Namespace::Resource`] values unless
//! [`StoreOptions::allow_plaintext`] is set: secrets are never written in clear by accident.
//! (`Kek`, `RollbackMarks` and `seal` exist with either persistent backend.)
//!
//! Keys are UTF-8 strings of 1..=[`StoreOptions::max_key_len`] bytes without NUL; values are at
//! most [`StoreOptions::max_value_len`] bytes. An absent or expired entry reads as `None`; expiry
//! is judged with the injected [`Clock`](remits_evidence::clock::Clock).
#![forbid(unsafe_code)]

mod changes;
#[cfg(feature = "redb")]
mod embedded;
mod error;
#[cfg(any(feature = "redb", feature = "postgres"))]
mod kek;
mod limits;
#[cfg(any(feature = "redb", feature = "postgres"))]
mod marks;
mod memory;
mod namespace;
mod open;
#[cfg(feature = "postgres")]
mod pgconn;
mod pgopts;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "redb", feature = "postgres"))]
pub mod seal;
#[cfg(feature = "testing")]
pub mod testing;

use std::time::SystemTime;

use zeroize::Zeroizing;

pub use changes::ReadCache;
#[cfg(feature = "redb")]
pub use embedded::{EmbeddedStore, FILE_NAME as EMBEDDED_FILE_NAME};
pub use error::StoreError;
#[cfg(any(feature = "redb", feature = "postgres"))]
pub use kek::Kek;
pub use limits::StoreOptions;
#[cfg(any(feature = "redb", feature = "postgres"))]
pub use marks::RollbackMarks;
pub use memory::MemoryStore;
pub use namespace::Namespace;
pub use open::{open, AtRest, Backend};
pub use pgopts::{PostgresOptions, SslMode};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresStore, NOTIFY_CHANNEL, SCHEMA as POSTGRES_SCHEMA};

/// Most writes in one [`Store::transact`] call.
pub const MAX_TRANSACTION_WRITES: usize = 64;

/// What one write of a [`Store::transact`] batch requires of its key's current value.
#[derive(Clone, Copy)]
pub enum Expect<'a> {
    /// Anything (or nothing): the write is unconditional.
    Any,
    /// No unexpired value.
    Absent,
    /// Exactly this value (compared in constant time).
    Value(&'a [u8]),
}

impl std::fmt::Debug for Expect<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Any => f.write_str("Any"),
            Expect::Absent => f.write_str("Absent"),
            // Values may be secrets.
            Expect::Value(v) => write!(f, "Value(<{} bytes>)", v.len()),
        }
    }
}

impl Expect<'_> {
    /// Whether `current` (the unexpired value, or `None`) satisfies this expectation.
    pub(crate) fn holds(&self, current: Option<&[u8]>) -> bool {
        match self {
            Expect::Any => true,
            Expect::Absent => current.is_none(),
            Expect::Value(v) => memory::same_value(current, Some(v)),
        }
    }
}

/// One write of a [`Store::transact`] batch: `new = Some(value)` sets the key (with
/// `expires_at`), `None` deletes it.
#[derive(Clone, Copy)]
pub struct TxWrite<'a> {
    /// Namespace.
    pub ns: Namespace,
    /// Key.
    pub key: &'a str,
    /// Condition on the current value.
    pub expect: Expect<'a>,
    /// New value (`None` = delete).
    pub new: Option<&'a [u8]>,
    /// Expiry of the new value.
    pub expires_at: Option<SystemTime>,
}

impl std::fmt::Debug for TxWrite<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxWrite")
            .field("ns", &self.ns)
            .field("key", &error::StoreError::shown_key(self.ns, self.key))
            .field("expect", &self.expect)
            .field("new", &self.new.map(<[u8]>::len))
            .finish()
    }
}

impl<'a> TxWrite<'a> {
    /// Set `key` to `value` whatever is there.
    pub fn put(ns: Namespace, key: &'a str, value: &'a [u8]) -> Self {
        TxWrite {
            ns,
            key,
            expect: Expect::Any,
            new: Some(value),
            expires_at: None,
        }
    }

    /// Delete `key` whatever is there.
    pub fn delete(ns: Namespace, key: &'a str) -> Self {
        TxWrite {
            ns,
            key,
            expect: Expect::Any,
            new: None,
            expires_at: None,
        }
    }

    /// The same write, only if the current value satisfies `expect`.
    pub fn expecting(mut self, expect: Expect<'a>) -> Self {
        self.expect = expect;
        self
    }
}

/// Checks a batch's shape and every key and value against `opts` before any I/O.
pub(crate) fn check_transaction(
    opts: &StoreOptions,
    writes: &[TxWrite<'_>],
) -> Result<(), StoreError> {
    if writes.is_empty() {
        return Err(StoreError::InvalidTransaction("no writes".into()));
    }
    if writes.len() > MAX_TRANSACTION_WRITES {
        return Err(StoreError::InvalidTransaction(format!(
            "{} writes, at most {MAX_TRANSACTION_WRITES}",
            writes.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for w in writes {
        opts.check_key(w.ns, w.key)?;
        if let Some(v) = w.new {
            opts.check_value(w.ns, v)?;
        }
        if !seen.insert((w.ns, w.key)) {
            return Err(StoreError::InvalidTransaction(format!(
                "{}/{} written twice",
                w.ns,
                error::StoreError::shown_key(w.ns, w.key)
            )));
        }
    }
    Ok(())
}

/// A namespaced key-value store with expiry and compare-and-swap.
///
/// Every implementation is safe to share between tasks (`Arc<dyn Store>`). Reads never return
/// expired entries. A successful write is durable before the call returns (for the persistent
/// backends). Keys and values are validated against [`StoreOptions`] before any I/O.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// The current value of `key`, or `None` if it is absent or expired.
    async fn get(&self, ns: Namespace, key: &str)
        -> Result<Option<Zeroizing<Vec<u8>>>, StoreError>;

    /// Sets `key` to `value`, replacing any previous value. `expires_at`: after this instant the
    /// entry reads as absent (`None` = never expires). Durable before `Ok` is returned.
    async fn put(
        &self,
        ns: Namespace,
        key: &str,
        value: &[u8],
        expires_at: Option<SystemTime>,
    ) -> Result<(), StoreError>;

    /// Removes `key`. Returns whether an unexpired entry was there.
    async fn delete(&self, ns: Namespace, key: &str) -> Result<bool, StoreError>;

    /// The unexpired keys of `ns` that start with `prefix` (may be empty), in ascending byte order.
    async fn list(&self, ns: Namespace, prefix: &str) -> Result<Vec<String>, StoreError>;

    /// Atomically: if the current (unexpired) value equals `expected` (None = absent), set it to
    /// `new` (None = delete) with expiry `expires_at`, and return `true`; otherwise change nothing
    /// and return `false`.
    async fn compare_and_swap(
        &self,
        ns: Namespace,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        expires_at: Option<SystemTime>,
    ) -> Result<bool, StoreError>;

    /// Atomically, across keys and namespaces: if every write's [`Expect`] holds for the
    /// current (unexpired) value of its key, apply every write (set or delete) and return
    /// `true`; otherwise change nothing and return `false`. Either all writes are durable or
    /// none is (one transaction: a single lock in memory, one redb write transaction, one
    /// PostgreSQL transaction with row locks taken in key order). At most
    /// [`MAX_TRANSACTION_WRITES`] writes, each key at most once.
    async fn transact(&self, writes: &[TxWrite<'_>]) -> Result<bool, StoreError>;

    /// Deletes every expired entry; returns how many were removed.
    async fn purge_expired(&self) -> Result<u64, StoreError>;

    /// The change epoch of `ns`, for read caches ([`ReadCache`]): a number that moves forward
    /// whenever a value of `ns` may have changed, by this process or by any other process
    /// sharing the store. `None` (the default) means "not tracked right now": callers must read
    /// through. A value loaded after observing epoch `e` may be reused while the epoch is `e`.
    fn change_epoch(&self, ns: Namespace) -> Option<u64> {
        let _ = ns;
        None
    }
}
