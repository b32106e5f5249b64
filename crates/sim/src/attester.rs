//! [`SimSnpAttester`]: the simulator behind the [`Attester`] seam.

use std::path::Path;

use remits_evidence::attester::{Attester, AttesterError};
use remits_evidence::envelope::{CertEntry, CertType, SnpEvidence};
use remits_evidence::TeeKind;

use crate::{ReportParams, SimChain, SimError};

/// Produces SNP evidence signed by a simulated VCEK, always labelled `"simulated": true`.
///
/// The evidence names TEE `snp`: a verifier tells it apart from hardware evidence only by its
/// trust anchors (the simulator's ARK must be configured explicitly), never by the label.
#[derive(Debug)]
pub struct SimSnpAttester {
    chain: SimChain,
    params: ReportParams,
}

impl SimSnpAttester {
    /// Loads the chain that `remits-broker serve --dev` writes (default `./remits-dev/sim`).
    ///
    /// # Errors
    ///
    /// [`SimError::Io`] or [`SimError::InvalidFile`] when the chain files are missing or malformed,
    /// as [`SimChain::load`].
    pub fn load(dir: &Path) -> Result<Self, SimError> {
        Ok(Self::new(SimChain::load(dir)?))
    }

    /// An attester over an in-memory chain with default report parameters.
    pub fn new(chain: SimChain) -> Self {
        SimSnpAttester {
            chain,
            params: ReportParams::default(),
        }
    }

    /// Replaces the report parameters (measurement, host data, policy, VMPL, ...).
    pub fn with_params(mut self, params: ReportParams) -> Self {
        self.params = params;
        self
    }

    /// The chain in use.
    pub fn chain(&self) -> &SimChain {
        &self.chain
    }

    /// The report parameters in use.
    ///
    /// # Errors
    ///
    /// [`SimError::ReportDataTooLong`] for more than 64 bytes of report data, [`SimError::Sign`]
    /// when signing fails.
    pub fn params(&self) -> &ReportParams {
        &self.params
    }

    /// The evidence envelope: report plus VCEK, ASK and ARK, `simulated: true`.
    ///
    /// # Errors
    ///
    /// [`SimError::ReportDataTooLong`] for more than 64 bytes of report data, [`SimError::Sign`]
    /// when signing fails.
    pub fn snp_evidence(&self, report_data: &[u8]) -> Result<SnpEvidence, SimError> {
        let report = self.chain.report(&self.params, report_data)?;
        Ok(SnpEvidence {
            report,
            cert_chain: vec![
                CertEntry {
                    cert_type: CertType::Vcek,
                    data: self.chain.vcek_der().to_vec(),
                },
                CertEntry {
                    cert_type: CertType::Ask,
                    data: self.chain.ask_der().to_vec(),
                },
                CertEntry {
                    cert_type: CertType::Ark,
                    data: self.chain.ark_der().to_vec(),
                },
            ],
            simulated: true,
        })
    }
}

impl Attester for SimSnpAttester {
    fn tee(&self) -> TeeKind {
        TeeKind::Snp
    }

    fn evidence(&self, report_data: &[u8]) -> Result<serde_json::Value, AttesterError> {
        let ev = self.snp_evidence(report_data).map_err(|e| match e {
            SimError::ReportDataTooLong { actual } => AttesterError::ReportDataTooLong {
                tee: "sim-snp",
                len: actual,
                max: 64,
            },
            other => AttesterError::Failed {
                tee: "sim-snp",
                reason: other.to_string(),
            },
        })?;
        serde_json::to_value(ev).map_err(|e| AttesterError::Failed {
            tee: "sim-snp",
            reason: e.to_string(),
        })
    }
}
