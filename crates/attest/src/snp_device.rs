//! SEV-SNP evidence from `/dev/sev-guest`: the extended report, so the VCEK or VLEK (and any
//! ASK/ARK the host provisioned) travels with the evidence.
//!
//! This needs an SEV-SNP guest; it cannot run on ordinary machines. Without the device
//! [`SnpDeviceAttester::open`] fails with [`AttesterError::Unavailable`], which auto-detection
//! uses to move on to the next collector.

use remits_evidence::attester::{Attester, AttesterError};
use remits_evidence::envelope::{CertEntry, CertType, SnpEvidence};
use remits_evidence::TeeKind;
use sev::firmware::guest::Firmware;
use sev::firmware::host::CertType as SevCertType;

/// Path of the SEV-SNP guest device.
pub const SEV_GUEST_DEVICE: &str = "/dev/sev-guest";

/// Collects SNP extended reports at a fixed VMPL (default 0).
#[derive(Debug, Clone)]
pub struct SnpDeviceAttester {
    vmpl: u32,
}

impl SnpDeviceAttester {
    /// Checks that the device can be opened; requests at VMPL 0.
    ///
    /// # Errors
    ///
    /// [`AttesterError::Unavailable`] when the SEV guest device cannot be opened.
    pub fn open() -> Result<Self, AttesterError> {
        Firmware::open().map_err(|e| AttesterError::Unavailable {
            tee: "snp",
            reason: format!("{SEV_GUEST_DEVICE}: {e}"),
        })?;
        Ok(SnpDeviceAttester { vmpl: 0 })
    }

    /// Requests reports at `vmpl` instead (0..=3).
    pub fn with_vmpl(mut self, vmpl: u32) -> Self {
        self.vmpl = vmpl;
        self
    }

    /// The evidence envelope for `report_data` (zero-padded to 64 bytes).
    ///
    /// # Errors
    ///
    /// [`AttesterError::ReportDataTooLong`] for more than 64 bytes, [`AttesterError::Failed`] when
    /// the firmware refuses the request.
    pub fn snp_evidence(&self, report_data: &[u8]) -> Result<SnpEvidence, AttesterError> {
        if report_data.len() > 64 {
            return Err(AttesterError::ReportDataTooLong {
                tee: "snp",
                len: report_data.len(),
                max: 64,
            });
        }
        let mut data = [0u8; 64];
        data.get_mut(..report_data.len())
            .ok_or(AttesterError::ReportDataTooLong {
                tee: "snp",
                len: report_data.len(),
                max: 64,
            })?
            .copy_from_slice(report_data);
        let mut fw = Firmware::open().map_err(|e| AttesterError::Unavailable {
            tee: "snp",
            reason: format!("{SEV_GUEST_DEVICE}: {e}"),
        })?;
        let (report, certs) = fw
            .get_ext_report(None, Some(data), Some(self.vmpl))
            .map_err(|e| AttesterError::Failed {
                tee: "snp",
                reason: format!("SNP_GET_EXT_REPORT: {e}"),
            })?;
        Ok(SnpEvidence {
            report,
            cert_chain: certs
                .unwrap_or_default()
                .into_iter()
                .filter_map(entry)
                .collect(),
            simulated: false,
        })
    }
}

/// Maps a certificate-table entry; unknown GUIDs and empty entries are dropped.
fn entry(e: sev::firmware::host::CertTableEntry) -> Option<CertEntry> {
    let cert_type = match e.cert_type {
        SevCertType::ARK => CertType::Ark,
        // The ASVK has no GUID of its own and is stored under the ASK's; the verifier tells
        // them apart by subject CN.
        SevCertType::ASK => CertType::Ask,
        SevCertType::VCEK => CertType::Vcek,
        SevCertType::VLEK => CertType::Vlek,
        SevCertType::CRL => CertType::Crl,
        _ => return None,
    };
    Some(CertEntry {
        cert_type,
        data: e.data,
    })
}

impl Attester for SnpDeviceAttester {
    fn tee(&self) -> TeeKind {
        TeeKind::Snp
    }

    fn evidence(&self, report_data: &[u8]) -> Result<serde_json::Value, AttesterError> {
        let ev = self.snp_evidence(report_data)?;
        serde_json::to_value(ev).map_err(|e| AttesterError::Failed {
            tee: "snp",
            reason: e.to_string(),
        })
    }
}
