//! The seam between evidence collectors (hardware, simulators) and protocol clients.

use crate::TeeKind;

/// Something that produces evidence binding caller-chosen report data.
///
/// The KBS client computes the runtime-data digest and passes it as `report_data`; the attester
/// places it in the TEE's field (SNP REPORT_DATA, TPM qualifying data, ...) and returns the
/// evidence JSON in the form verifiers accept for [`Attester::tee`].
pub trait Attester: Send + Sync {
    /// Which TEE the evidence is for, as the KBS protocol names it.
    fn tee(&self) -> TeeKind;
    /// Produce evidence whose TEE-signed data binds `report_data`.
    ///
    /// # Errors
    ///
    /// [`AttesterError`] when the TEE cannot be reached or refuses to produce evidence.
    fn evidence(&self, report_data: &[u8]) -> Result<serde_json::Value, AttesterError>;
}

/// Why an attester could not produce evidence.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttesterError {
    /// The TEE device or TPM is not present on this machine.
    #[error("{tee} is not available here: {reason}")]
    Unavailable {
        /// Which collector.
        tee: &'static str,
        /// Why.
        reason: String,
    },
    /// The device is busy; trying again later may succeed.
    #[error("{tee} is busy: {reason}")]
    Busy {
        /// Which collector.
        tee: &'static str,
        /// Why.
        reason: String,
    },
    /// The report data does not fit the TEE's field.
    #[error("report data is {len} bytes; {tee} takes at most {max}")]
    ReportDataTooLong {
        /// Which collector.
        tee: &'static str,
        /// Given length.
        len: usize,
        /// Maximum length.
        max: usize,
    },
    /// Any other failure of the collector.
    #[error("{tee}: {reason}")]
    Failed {
        /// Which collector.
        tee: &'static str,
        /// Why.
        reason: String,
    },
}
