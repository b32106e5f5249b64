//! The error type of the store.

use std::path::PathBuf;

use crate::Namespace;

/// Why a store operation failed. An absent key is not an error (`Ok(None)` / `Ok(false)`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The key is empty, too long, or contains NUL.
    #[error("invalid key in namespace {ns}: {reason}")]
    InvalidKey {
        /// Namespace of the key.
        ns: Namespace,
        /// What is wrong with it.
        reason: String,
    },
    /// The value is larger than the configured maximum.
    #[error("value for namespace {ns} is {len} bytes, more than the maximum of {max}")]
    ValueTooLarge {
        /// Namespace of the key.
        ns: Namespace,
        /// Size of the value.
        len: usize,
        /// Configured maximum ([`crate::StoreOptions::max_value_len`]).
        max: usize,
    },
    /// A [`crate::Store::transact`] batch is malformed (empty, too long, or names one key
    /// twice).
    #[error("transaction: {0}")]
    InvalidTransaction(String),
    /// The namespace name is not one of [`Namespace::ALL`].
    #[error("unknown namespace {0:?}")]
    UnknownNamespace(String),
    /// A secret value would be stored in clear: no KEK is configured and plaintext was not
    /// explicitly allowed.
    #[error("namespace {ns} holds secrets: configure a key-encryption key (or explicitly allow plaintext)")]
    KekRequired {
        /// The namespace refused.
        ns: Namespace,
    },
    /// The KEK does not match the one the store was created with, or the store was created with
    /// a KEK and none was given (or the reverse).
    #[error("key-encryption key mismatch: {reason}")]
    KekMismatch {
        /// Which mismatch.
        reason: &'static str,
    },
    /// A KEK file could not be read or is not 32 raw bytes / 64 hex characters.
    #[error("key-encryption key file {path}: {reason}")]
    KekFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A stored value failed authentication (wrong KEK, tampering, or moved to another key).
    #[error("stored value {ns}/{key} failed decryption: {reason}")]
    Crypto {
        /// Namespace of the value.
        ns: Namespace,
        /// Key of the value (redacted for credential keys).
        key: String,
        /// What failed.
        reason: &'static str,
    },
    /// A stored record is malformed.
    #[error("stored record {ns}/{key} is corrupt: {reason}")]
    Corrupt {
        /// Namespace of the record.
        ns: Namespace,
        /// Key of the record (redacted for credential keys).
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The backend failed (database error, connection, transaction).
    #[error("{backend} backend: {reason}")]
    Backend {
        /// `embedded` or `postgres`.
        backend: &'static str,
        /// The backend's message.
        reason: String,
    },
    /// A file-system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A stored value is older than one this process has already seen of the same key (a row
    /// replaced by an older sealed row: a replayed backup or copy). The value is not returned.
    #[error(
        "stored value {namespace}/{key} was rolled back: version {found} is older than version \
         {seen} already seen (see storage.rollback_marks_file)"
    )]
    Rollback {
        /// Namespace of the value.
        namespace: Namespace,
        /// Key of the value (redacted for credential keys).
        key: String,
        /// The highest version seen before (the mark).
        seen: u64,
        /// The version found in the store.
        found: u64,
    },
    /// The rollback-marks file exists but cannot be parsed.
    #[error("rollback marks file {path}: {reason}")]
    MarksFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The store was closed (its writer stopped).
    #[error("store is closed")]
    Closed,
    /// A backend was named (e.g. in a configuration) that this build of remits-store does not
    /// include: its cargo feature is off.
    #[error(
        "storage backend {backend:?} is not built in: enable the remits-store feature \"{feature}\""
    )]
    BackendNotBuilt {
        /// The backend named: `embedded` or `postgres`.
        backend: &'static str,
        /// The cargo feature that compiles it: `redb` or `postgres`.
        feature: &'static str,
    },
}

impl StoreError {
    /// The key as it may appear in an error: session ids are credentials and are redacted.
    pub(crate) fn shown_key(ns: Namespace, key: &str) -> String {
        if ns.key_is_credential() {
            "<redacted>".to_owned()
        } else {
            key.chars().take(256).collect()
        }
    }

    #[cfg(any(feature = "redb", feature = "postgres"))]
    pub(crate) fn crypto(ns: Namespace, key: &str, reason: &'static str) -> Self {
        StoreError::Crypto {
            ns,
            key: Self::shown_key(ns, key),
            reason,
        }
    }

    #[cfg(feature = "postgres")]
    pub(crate) fn corrupt(ns: Namespace, key: &str, reason: impl Into<String>) -> Self {
        StoreError::Corrupt {
            ns,
            key: Self::shown_key(ns, key),
            reason: reason.into(),
        }
    }

    #[cfg(feature = "redb")]
    pub(crate) fn embedded(reason: impl std::fmt::Display) -> Self {
        StoreError::Backend {
            backend: "embedded",
            reason: reason.to_string(),
        }
    }

    pub(crate) fn postgres(reason: impl std::fmt::Display) -> Self {
        StoreError::Backend {
            backend: "postgres",
            reason: reason.to_string(),
        }
    }
}
