//! The error type of manifest parsing, signing and verification.

/// Why a manifest, a key or a signature check failed. Each variant names the input and the
/// check; none of them carries secret material. (`remits_measure::predict::Error::Manifest`
/// wraps it.)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading an input file failed.
    #[error("{what}: I/O error: {source}")]
    Io {
        /// Which input (e.g. a key file).
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A key file could not be used.
    #[error("key: {0}")]
    Key(String),
    /// The manifest is malformed or inconsistent.
    #[error("manifest: {field}: {reason}")]
    Manifest {
        /// Field that failed.
        field: String,
        /// Why.
        reason: String,
    },
    /// The manifest signature does not verify with the given key.
    #[error("manifest signature: {0}")]
    Signature(String),
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
    pub(crate) fn manifest(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Manifest {
            field: field.into(),
            reason: reason.into(),
        }
    }
    /// True when the error means "the input was rejected" (exit 1), false for I/O and usage
    /// problems (exit 2).
    pub fn is_rejection(&self) -> bool {
        matches!(self, Error::Signature(_) | Error::Manifest { .. })
    }
}
