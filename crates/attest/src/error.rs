//! The collectors' error type.

use std::path::PathBuf;

/// Errors of the collectors, the secret delivery and the EFI secret helpers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttestError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The TPM returned an error (including "busy"/retry responses).
    #[error("TPM {op}: {reason}")]
    Tpm {
        /// The TPM operation.
        op: &'static str,
        /// The TSS's reason.
        reason: String,
        /// Whether the TPM said to try again (TPM_RC_RETRY / YIELDED / TESTING, or a busy device).
        busy: bool,
    },
    /// PCR values kept moving between the quote and the PCR read.
    #[error("PCRs changed during {attempts} quote attempts")]
    PcrsUnstable {
        /// How many quotes were taken.
        attempts: u32,
    },
    /// The SEV-SNP guest device failed.
    #[error("/dev/sev-guest: {0}")]
    SevGuest(String),
    /// An Azure HCL report is malformed.
    #[error("HCL report: {0}")]
    Hcl(String),
    /// A secret name, GUID or value is invalid.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was invalid.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The report data does not fit.
    #[error("report data is {len} bytes; at most {max}")]
    ReportDataTooLong {
        /// Length given.
        len: usize,
        /// Maximum.
        max: usize,
    },
}

impl AttestError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AttestError::Io {
            path: path.into(),
            source,
        }
    }
}
