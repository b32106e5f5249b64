//! Options shared by every backend: size limits, plaintext policy and the clock.

use std::sync::Arc;

use remits_evidence::clock::{Clock, SystemClock};

#[cfg(any(feature = "redb", feature = "postgres"))]
use crate::RollbackMarks;
use crate::{Namespace, StoreError};

/// Options of a store. `Default`: 1 KiB keys, 16 MiB values, plaintext secrets refused, the
/// system clock.
#[derive(Clone)]
pub struct StoreOptions {
    /// Maximum key length in bytes (default 1024).
    pub max_key_len: usize,
    /// Maximum value length in bytes (default 16 MiB).
    pub max_value_len: usize,
    /// Store [`Namespace::Resource`] values in clear when no KEK is configured (default `false`:
    /// such writes fail with [`StoreError::KekRequired`]). Has no effect when a KEK is set.
    pub allow_plaintext: bool,
    /// The clock that decides expiry.
    pub clock: Arc<dyn Clock>,
    /// Rollback detection: the highest version seen of each key, kept in a local file
    /// (default `None`: no detection). See [`RollbackMarks`]. With a persistent backend only.
    #[cfg(any(feature = "redb", feature = "postgres"))]
    pub rollback_marks: Option<Arc<RollbackMarks>>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_key_len: 1024,
            max_value_len: 16 * 1024 * 1024,
            allow_plaintext: false,
            clock: Arc::new(SystemClock),
            #[cfg(any(feature = "redb", feature = "postgres"))]
            rollback_marks: None,
        }
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("StoreOptions");
        d.field("max_key_len", &self.max_key_len)
            .field("max_value_len", &self.max_value_len)
            .field("allow_plaintext", &self.allow_plaintext);
        #[cfg(any(feature = "redb", feature = "postgres"))]
        d.field("rollback_marks", &self.rollback_marks);
        d.finish_non_exhaustive()
    }
}

impl StoreOptions {
    /// These options with another clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks a key: 1..=max_key_len bytes, no NUL.
    pub(crate) fn check_key(&self, ns: Namespace, key: &str) -> Result<(), StoreError> {
        if key.is_empty() {
            return Err(StoreError::InvalidKey {
                ns,
                reason: "key is empty".into(),
            });
        }
        self.check_prefix(ns, key)
    }

    /// Checks a list prefix: like a key, but may be empty.
    pub(crate) fn check_prefix(&self, ns: Namespace, key: &str) -> Result<(), StoreError> {
        if key.len() > self.max_key_len {
            return Err(StoreError::InvalidKey {
                ns,
                reason: format!(
                    "{} bytes, more than the maximum of {}",
                    key.len(),
                    self.max_key_len
                ),
            });
        }
        if key.as_bytes().contains(&0) {
            return Err(StoreError::InvalidKey {
                ns,
                reason: "contains NUL".into(),
            });
        }
        Ok(())
    }

    /// Checks a value's size.
    pub(crate) fn check_value(&self, ns: Namespace, value: &[u8]) -> Result<(), StoreError> {
        if value.len() > self.max_value_len {
            return Err(StoreError::ValueTooLarge {
                ns,
                len: value.len(),
                max: self.max_value_len,
            });
        }
        Ok(())
    }

    /// Checks an authenticated `version` read or written at `ns`/`key` against the rollback
    /// marks and records it (`write`: the version was just written here, never refused). No-op
    /// without marks or for a plaintext value (`None`).
    #[cfg(any(feature = "redb", feature = "postgres"))]
    pub(crate) async fn observe(
        &self,
        ns: Namespace,
        key: &str,
        version: Option<u64>,
        write: bool,
    ) -> Result<(), StoreError> {
        match (&self.rollback_marks, version) {
            (Some(m), Some(v)) => m.observe_persist(ns, key, v, write).await,
            _ => Ok(()),
        }
    }

    /// Refuses `version` of `ns`/`key` if it is below its mark, without recording it.
    #[cfg(any(feature = "redb", feature = "postgres"))]
    pub(crate) fn check_mark(
        &self,
        ns: Namespace,
        key: &str,
        version: Option<u64>,
    ) -> Result<(), StoreError> {
        if let (Some(m), Some(found)) = (&self.rollback_marks, version) {
            if RollbackMarks::tracks(ns) {
                if let Some(seen) = m.get(ns, key).filter(|&seen| found < seen) {
                    return Err(StoreError::Rollback {
                        namespace: ns,
                        key: StoreError::shown_key(ns, key),
                        seen,
                        found,
                    });
                }
            }
        }
        Ok(())
    }

    /// The mark of `ns`/`key` (0 without marks or mark).
    #[cfg(feature = "postgres")]
    pub(crate) fn mark(&self, ns: Namespace, key: &str) -> u64 {
        self.rollback_marks
            .as_ref()
            .and_then(|m| m.get(ns, key))
            .unwrap_or(0)
    }

    /// Whether an entry expiring at `expires_at` is still live now.
    pub(crate) fn live(&self, expires_at: Option<std::time::SystemTime>) -> bool {
        match expires_at {
            None => true,
            Some(t) => t > self.clock.now(),
        }
    }
}
