//! The simulator's error type.

use std::path::PathBuf;

/// Everything that can go wrong while generating, storing, loading or using the simulator chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// Reading or writing a file of the chain directory failed.
    #[error("simulator file {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file of the chain directory exists but does not hold what it should.
    #[error("simulator file {path}: {reason}")]
    InvalidFile {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Generating an RSA or EC key failed.
    #[error("simulator key generation ({key}): {reason}")]
    KeyGeneration {
        /// Which key (ARK, ASK or VCEK).
        key: &'static str,
        /// The backend's reason.
        reason: String,
    },
    /// Building or signing a certificate failed.
    #[error("simulator certificate {cert}: {reason}")]
    Certificate {
        /// Which certificate (ARK, ASK or VCEK).
        cert: &'static str,
        /// The backend's reason.
        reason: String,
    },
    /// The report data handed to the simulator is longer than the 64-byte REPORT_DATA field.
    #[error("report data is {actual} bytes, REPORT_DATA holds at most 64")]
    ReportDataTooLong {
        /// Length received.
        actual: usize,
    },
    /// Signing the report with the simulated VCEK failed.
    #[error("signing the simulated report: {0}")]
    Sign(String),
}

impl SimError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SimError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        SimError::InvalidFile {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
