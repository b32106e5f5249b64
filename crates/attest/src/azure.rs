//! Azure SEV-SNP vTPM evidence (TEE `az-snp-vtpm`), in the v2 form trustee accepts.
//!
//! 1. The report data (≤ 64 bytes, zero-padded) is written to NV index `0x01400002`; the
//!    paravisor then regenerates the HCL report, whose runtime claims carry it as `user-data`.
//! 2. The HCL report is read from NV `0x01400001` (re-read until its `user-data` shows the new
//!    value, at most [`HCL_REFRESH_TIMEOUT`]).
//! 3. A quote over sha256:0-23 with the vTPM AK `0x81000003` and the report data as qualifying
//!    data.
//! 4. The VCEK comes from the Azure instance metadata service (IMDS) or a file.
//!
//! Evidence: `{"version":2,"tpm_quote":{"signature":"<hex raw RSA signature>","message":"<hex
//! TPMS_ATTEST>","pcrs":["<hex>"×24]},"hcl_report":"<base64url>","vcek":"<base64url DER>"}`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine as _;
use remits_evidence::attester::{Attester, AttesterError};
use remits_evidence::TeeKind;
use serde_json::{json, Value};
use tss_esapi::abstraction::nv;
use tss_esapi::attributes::NvIndexAttributesBuilder;
use tss_esapi::handles::{NvIndexHandle, NvIndexTpmHandle, TpmHandle};
use tss_esapi::interface_types::algorithm::HashingAlgorithm;
use tss_esapi::interface_types::resource_handles::{NvAuth, Provision};
use tss_esapi::interface_types::session_handles::AuthSession;
use tss_esapi::structures::{MaxNvBuffer, NvPublicBuilder};

use crate::tpm::{open_context, quote, to_attester_error, Bank, TpmConfig};
use crate::AttestError;

/// NV index of the HCL report.
pub const HCL_REPORT_NV: u32 = 0x0140_0001;
/// NV index the guest writes its report data to.
pub const USER_DATA_NV: u32 = 0x0140_0002;
/// The vTPM's persistent attestation key.
pub const AZURE_AK_HANDLE: u32 = 0x8100_0003;
/// How long to wait for the paravisor to refresh the HCL report.
pub const HCL_REFRESH_TIMEOUT: Duration = Duration::from_secs(5);
/// IMDS endpoint with the VCEK and its chain.
pub const IMDS_VCEK: &str = "/metadata/THIM/amd/certification";

/// Where the VCEK comes from.
#[derive(Clone, Debug)]
pub enum VcekSource {
    /// Azure IMDS at 169.254.169.254 (plain HTTP, link-local, header `Metadata: true`).
    Imds,
    /// A DER or PEM file.
    File(PathBuf),
}

/// Azure SNP vTPM collector configuration.
#[derive(Clone, Debug)]
pub struct AzureConfig {
    /// TCTI of the vTPM (`device:/dev/tpmrm0` on Azure CVMs).
    pub tcti: String,
    /// VCEK source.
    pub vcek: VcekSource,
}

impl Default for AzureConfig {
    fn default() -> Self {
        AzureConfig {
            tcti: "device:/dev/tpmrm0".into(),
            vcek: VcekSource::Imds,
        }
    }
}

fn tpm_err(op: &'static str, e: tss_esapi::Error) -> AttestError {
    AttestError::Tpm {
        op,
        reason: e.to_string(),
        busy: false,
    }
}

/// Whether the TPM at `tcti` holds an HCL report (used by auto-detection).
pub fn has_hcl_report(tcti: &str) -> bool {
    let Ok(mut ctx) = open_context(tcti) else {
        return false;
    };
    let Ok(idx) = NvIndexTpmHandle::new(HCL_REPORT_NV) else {
        return false;
    };
    ctx.tr_from_tpm_public(TpmHandle::NvIndex(idx)).is_ok()
}

/// Writes `data` (zero-padded to 64 bytes) to [`USER_DATA_NV`], defining the index
/// (owner read/write, 64 bytes) when absent or of another size.
///
/// # Errors
///
/// [`AttestError::ReportDataTooLong`] for more than 64 bytes, [`AttestError::Tpm`] when the TPM
/// refuses to define or write the index.
pub fn write_user_data(tcti: &str, data: &[u8]) -> Result<(), AttestError> {
    if data.len() > 64 {
        return Err(AttestError::ReportDataTooLong {
            len: data.len(),
            max: 64,
        });
    }
    let mut padded = vec![0u8; 64];
    padded
        .get_mut(..data.len())
        .ok_or(AttestError::ReportDataTooLong {
            len: data.len(),
            max: 64,
        })?
        .copy_from_slice(data);
    let mut ctx = open_context(tcti)?;
    let idx = NvIndexTpmHandle::new(USER_DATA_NV).map_err(|e| tpm_err("NV index", e))?;
    let existing = ctx
        .tr_from_tpm_public(TpmHandle::NvIndex(idx))
        .ok()
        .map(NvIndexHandle::from);
    let handle = match existing {
        Some(h) => {
            let (public, _) = ctx
                .nv_read_public(h)
                .map_err(|e| tpm_err("NV_ReadPublic", e))?;
            if public.data_size() == 64 {
                h
            } else {
                ctx.execute_with_session(Some(AuthSession::Password), |c| {
                    c.nv_undefine_space(Provision::Owner, h)
                })
                .map_err(|e| tpm_err("NV_UndefineSpace", e))?;
                define(&mut ctx, idx)?
            }
        }
        None => define(&mut ctx, idx)?,
    };
    let buf = MaxNvBuffer::try_from(padded).map_err(|e| tpm_err("NV buffer", e))?;
    ctx.execute_with_session(Some(AuthSession::Password), |c| {
        c.nv_write(NvAuth::Owner, handle, buf, 0)
    })
    .map_err(|e| tpm_err("NV_Write", e))
}

fn define(
    ctx: &mut tss_esapi::Context,
    idx: NvIndexTpmHandle,
) -> Result<NvIndexHandle, AttestError> {
    let attrs = NvIndexAttributesBuilder::new()
        .with_owner_write(true)
        .with_owner_read(true)
        .build()
        .map_err(|e| tpm_err("NV attributes", e))?;
    let public = NvPublicBuilder::new()
        .with_nv_index(idx)
        .with_index_name_algorithm(HashingAlgorithm::Sha256)
        .with_index_attributes(attrs)
        .with_data_area_size(64)
        .build()
        .map_err(|e| tpm_err("NV public", e))?;
    ctx.execute_with_session(Some(AuthSession::Password), |c| {
        c.nv_define_space(Provision::Owner, None, public)
    })
    .map_err(|e| tpm_err("NV_DefineSpace", e))
}

/// Reads the HCL report from [`HCL_REPORT_NV`].
///
/// # Errors
///
/// [`AttestError::Tpm`] when the index cannot be read, [`AttestError::Hcl`] when it holds no HCL
/// report.
pub fn read_hcl_report(tcti: &str) -> Result<Vec<u8>, AttestError> {
    let mut ctx = open_context(tcti)?;
    let idx = NvIndexTpmHandle::new(HCL_REPORT_NV).map_err(|e| tpm_err("NV index", e))?;
    ctx.execute_with_session(Some(AuthSession::Password), |c| {
        nv::read_full(c, NvAuth::Owner, idx)
    })
    .map_err(|e| tpm_err("NV_Read HCL report", e))
}

/// The `user-data` bytes of an HCL report's runtime claims, if present.
///
/// # Errors
///
/// [`AttestError::Hcl`] or [`AttestError::Invalid`] when the report or its runtime claims are
/// malformed.
pub fn hcl_user_data(hcl: &[u8]) -> Result<Option<Vec<u8>>, AttestError> {
    let size_bytes = hcl
        .get(0x4D0..0x4D4)
        .ok_or_else(|| AttestError::Hcl("shorter than its header".into()))?;
    let size = u32::from_le_bytes(
        size_bytes
            .try_into()
            .map_err(|_| AttestError::Hcl("size".into()))?,
    ) as usize;
    let var = hcl.get(0x4D4..0x4D4 + size).ok_or_else(|| {
        AttestError::Hcl(format!("variable data of {size} bytes exceeds the report"))
    })?;
    let claims: Value = serde_json::from_slice(var)
        .map_err(|e| AttestError::Hcl(format!("runtime claims: {e}")))?;
    match claims.get("user-data").and_then(Value::as_str) {
        Some(h) => hex::decode(h)
            .map(Some)
            .map_err(|e| AttestError::Hcl(format!("user-data: {e}"))),
        None => Ok(None),
    }
}

/// Fetches the VCEK (DER) from IMDS.
///
/// # Errors
///
/// [`AttestError::Io`] when IMDS cannot be reached, [`AttestError::Invalid`] when its answer is not
/// a certificate.
pub fn fetch_vcek_imds() -> Result<Vec<u8>, AttestError> {
    let host = "169.254.169.254:80";
    let io = |e: std::io::Error| AttestError::io(format!("http://{host}{IMDS_VCEK}"), e);
    let addr = host.parse().map_err(|_| AttestError::Invalid {
        what: "IMDS address",
        reason: host.into(),
    })?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(io)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(io)?;
    write!(
        s,
        "GET {IMDS_VCEK} HTTP/1.0\r\nHost: 169.254.169.254\r\nMetadata: true\r\n\r\n"
    )
    .map_err(io)?;
    let mut resp = Vec::new();
    s.take(1 << 20).read_to_end(&mut resp).map_err(io)?;
    let text = String::from_utf8_lossy(&resp);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let v: Value = serde_json::from_str(body).map_err(|e| AttestError::Invalid {
        what: "IMDS response",
        reason: e.to_string(),
    })?;
    let pem = v
        .get("vcekCert")
        .and_then(Value::as_str)
        .ok_or_else(|| AttestError::Invalid {
            what: "IMDS response",
            reason: "no vcekCert".into(),
        })?;
    vcek_der(pem.as_bytes(), "IMDS vcekCert")
}

/// The VCEK certificate read from `source` (IMDS's `vcekCert`, or a file the operator names):
/// DER as is, or one PEM `CERTIFICATE` block, decoded leniently (any Base64 line length, CRLF;
/// see [`remits_codec::pem::der_or_pem`]).
fn vcek_der(data: &[u8], source: &str) -> Result<Vec<u8>, AttestError> {
    remits_codec::pem::der_or_pem(data, "CERTIFICATE")
        .map(std::borrow::Cow::into_owned)
        .map_err(|e| AttestError::Invalid {
            what: "VCEK certificate",
            reason: format!("{source}: {e}"),
        })
}

/// The Azure collector behind the [`Attester`] seam.
#[derive(Clone, Debug)]
pub struct AzSnpVtpmAttester {
    cfg: AzureConfig,
}

impl AzSnpVtpmAttester {
    /// A collector with `cfg`.
    pub fn new(cfg: AzureConfig) -> Self {
        AzSnpVtpmAttester { cfg }
    }

    /// Collects the v2 evidence for `report_data`.
    ///
    /// # Errors
    ///
    /// Every error of [`read_hcl_report`], [`fetch_vcek_imds`] and the TPM quote, and
    /// [`AttestError::Invalid`] when the HCL report does not carry `report_data`.
    pub fn collect(&self, report_data: &[u8]) -> Result<Value, AttestError> {
        write_user_data(&self.cfg.tcti, report_data)?;
        let deadline = Instant::now() + HCL_REFRESH_TIMEOUT;
        let hcl = loop {
            let hcl = read_hcl_report(&self.cfg.tcti)?;
            let fresh = hcl_user_data(&hcl)?.is_some_and(|u| u.starts_with(report_data));
            if fresh || Instant::now() >= deadline {
                break hcl;
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        let q = quote(
            &TpmConfig {
                tcti: self.cfg.tcti.clone(),
                ak_handle: AZURE_AK_HANDLE,
                banks: vec![Bank::Sha256],
                event_log: None,
                nonce_len: 64,
                timeout: crate::tpm::DEFAULT_TPM_TIMEOUT,
            },
            report_data,
        )?;
        // TPMT_SIGNATURE of RSASSA: sigAlg u16, hash u16, TPM2B size u16, bytes.
        let raw_sig = q.signature.get(6..).ok_or_else(|| AttestError::Invalid {
            what: "TPMT_SIGNATURE",
            reason: "too short".into(),
        })?;
        let vcek = match &self.cfg.vcek {
            VcekSource::Imds => fetch_vcek_imds()?,
            VcekSource::File(p) => vcek_der(
                &crate::read_limited(p, 64 * 1024)?,
                &p.display().to_string(),
            )?,
        };
        let pcrs: Vec<String> = q
            .pcrs
            .iter()
            .find(|(b, _)| *b == Bank::Sha256)
            .map(|(_, v)| v.iter().map(hex::encode).collect())
            .unwrap_or_default();
        Ok(json!({
            "version": 2,
            "tpm_quote": {
                "signature": hex::encode(raw_sig),
                "message": hex::encode(&q.message),
                "pcrs": pcrs,
            },
            "hcl_report": URL_SAFE.encode(&hcl),
            "vcek": URL_SAFE.encode(&vcek),
        }))
    }
}

impl Attester for AzSnpVtpmAttester {
    fn tee(&self) -> TeeKind {
        TeeKind::AzSnpVtpm
    }
    fn evidence(&self, report_data: &[u8]) -> Result<Value, AttesterError> {
        self.collect(report_data)
            .map_err(|e| to_attester_error("az-snp-vtpm", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vcek_file_is_der_or_one_pem_certificate() {
        let der = vec![0x30, 0x03, 1, 2, 3];
        assert_eq!(vcek_der(&der, "v.der").unwrap(), der);
        let pem = remits_codec::pem::encode("CERTIFICATE", &der).replace('\n', "\r\n");
        assert_eq!(vcek_der(pem.as_bytes(), "v.pem").unwrap(), der);
        // Another label (the old helper took any) and a PEM body that is not Base64.
        for (text, want) in [
            (
                remits_codec::pem::encode("PUBLIC KEY", &der),
                "is not CERTIFICATE",
            ),
            (pem.replacen("MAMB", "M*MB", 1), "Base64"),
        ] {
            let e = vcek_der(text.as_bytes(), "v.pem").unwrap_err().to_string();
            assert!(
                e.contains("VCEK certificate") && e.contains("v.pem") && e.contains(want),
                "{e}"
            );
        }
    }
}
