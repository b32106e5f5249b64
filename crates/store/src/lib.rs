//! Storage for the broker: resources (secrets), resource and attestation policies, reference
//! values, session state and configuration, behind one async [`Store`] trait.
//!
//! Backends:
//! - [`MemoryStore`]: in process, for tests and development; nothing survives a restart.
//! - [`EmbeddedStore`]: one `redb` file in a directory; ACID, every write is fsynced before the
//!   call returns (writes arriving together share one fsync: group commit).
//! - [`PostgresStore`]: PostgreSQL, shared by several broker replicas; compare-and-swap is a
//!   single transaction with a row lock, so it is atomic across replicas.
//!
//! At rest (embedded and PostgreSQL), when a [`Kek`] is configured every value is sealed with
//! AES-256-GCM under a fresh random nonce, bound to its namespace, key, version and expiry (see
//! [`seal`]); with [`RollbackMarks`] a store refuses values older than ones it has seen. Without
//! a KEK the persistent stores refuse [`Namespace::Resource`] values unless
//! [`StoreOptions::allow_plaintext`] is set: secrets are never written in clear by accident.
//!
//! Keys are UTF-8 strings of 1..=[`StoreOptions::max_key_len`] bytes without NUL; values are at
//! most [`StoreOptions::max_value_len`] bytes. An absent or expired entry reads as `None`; expiry
//! is judged with the injected [`Clock`](remits_evidence::clock::Clock).
#![forbid(unsafe_code)]

mod changes;
mod embedded;
mod error;
mod kek;
mod limits;
mod marks;
mod memory;
mod namespace;
mod pgconn;
mod postgres;
pub mod seal;
#[cfg(feature = "testing")]
pub mod testing;

use std::time::SystemTime;

use zeroize::Zeroizing;

pub use changes::ReadCache;
pub use embedded::{EmbeddedStore, FILE_NAME as EMBEDDED_FILE_NAME};
pub use error::StoreError;
pub use kek::Kek;
pub use limits::StoreOptions;
pub use marks::RollbackMarks;
pub use memory::MemoryStore;
pub use namespace::Namespace;
pub use pgconn::{PostgresOptions, SslMode};
pub use postgres::{PostgresStore, NOTIFY_CHANNEL, SCHEMA as POSTGRES_SCHEMA};

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
