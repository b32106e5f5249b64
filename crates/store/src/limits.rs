//! Options shared by every backend: size limits, plaintext policy and the clock.

use std::sync::Arc;

use remits_evidence::clock::{Clock, SystemClock};

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
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_key_len: 1024,
            max_value_len: 16 * 1024 * 1024,
            allow_plaintext: false,
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("max_key_len", &self.max_key_len)
            .field("max_value_len", &self.max_value_len)
            .field("allow_plaintext", &self.allow_plaintext)
            .finish_non_exhaustive()
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

    /// Whether an entry expiring at `expires_at` is still live now.
    pub(crate) fn live(&self, expires_at: Option<std::time::SystemTime>) -> bool {
        match expires_at {
            None => true,
            Some(t) => t > self.clock.now(),
        }
    }
}
