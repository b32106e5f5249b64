//! TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE, parsed strictly and without copying.

use serde::Serialize;

use crate::alg::HashAlg;
use crate::cursor::Cursor;
use crate::error::{hx, Error};
use crate::pcr::PcrSelection;

/// TPM_GENERATED_VALUE: restricted keys refuse to sign external data that starts with it.
pub const TPM_GENERATED_VALUE: u32 = 0xFF54_4347;
/// TPM_ST_ATTEST_QUOTE.
pub(crate) const TPM_ST_ATTEST_QUOTE: u16 = 0x8018;
/// Largest extraData a TPM accepts (TPM2B_DATA, sizeof(TPMT_HA)).
pub(crate) const MAX_EXTRA_DATA: usize = 64;

/// TPMS_CLOCK_INFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClockInfo {
    /// Milliseconds the TPM has been powered (clock).
    pub clock: u64,
    /// TPM Reset count.
    pub reset_count: u32,
    /// TPM Restart/Resume count.
    pub restart_count: u32,
    /// Whether `clock` is known not to have gone backwards.
    pub safe: bool,
}

/// A parsed quote (TPMS_ATTEST with TPMS_QUOTE_INFO). Borrowed slices point into the signed bytes.
#[derive(Debug, Clone)]
pub struct Attest<'a> {
    raw: &'a [u8],
    qualified_signer: &'a [u8],
    extra_data: &'a [u8],
    clock_info: ClockInfo,
    firmware_version: u64,
    selection: PcrSelection,
    pcr_digest: &'a [u8],
}

impl<'a> Attest<'a> {
    /// Parse a TPMS_ATTEST (the bytes the TPM signed, without the TPM2B_ATTEST size prefix).
    /// Requires magic TPM_GENERATED_VALUE, type TPM_ST_ATTEST_QUOTE and no trailing bytes.
    ///
    /// # Errors
    ///
    /// [`Error::Layout`] (truncated, trailing bytes) or [`Error::Invalid`] naming the field that
    /// does not parse or has the wrong value.
    pub fn parse(raw: &'a [u8]) -> Result<Self, Error> {
        let mut c = Cursor::new(raw, "TPMS_ATTEST");
        let magic = c.u32_be("magic")?;
        if magic != TPM_GENERATED_VALUE {
            return Err(Error::Invalid {
                structure: "TPMS_ATTEST",
                field: "magic",
                offset: 0,
                reason: format!("0x{magic:08x}, expected 0x{TPM_GENERATED_VALUE:08x}"),
            });
        }
        let ty = c.u16_be("type")?;
        if ty != TPM_ST_ATTEST_QUOTE {
            return Err(Error::Invalid {
                structure: "TPMS_ATTEST",
                field: "type",
                offset: 4,
                reason: format!(
                    "0x{ty:04x}, expected TPM_ST_ATTEST_QUOTE 0x{TPM_ST_ATTEST_QUOTE:04x}"
                ),
            });
        }
        let signer_at = c.pos();
        let qualified_signer = c.tpm2b("qualifiedSigner", 2 + 64)?;
        check_name(qualified_signer).map_err(|reason| Error::Invalid {
            structure: "TPMS_ATTEST",
            field: "qualifiedSigner",
            offset: signer_at,
            reason,
        })?;
        let extra_data = c.tpm2b("extraData", MAX_EXTRA_DATA)?;
        let clock = c.u64_be("clockInfo.clock")?;
        let reset_count = c.u32_be("clockInfo.resetCount")?;
        let restart_count = c.u32_be("clockInfo.restartCount")?;
        let safe = match c.u8("clockInfo.safe")? {
            0 => false,
            1 => true,
            v => return Err(c.invalid("clockInfo.safe", format!("{v} is not a TPMI_YES_NO"))),
        };
        let firmware_version = c.u64_be("firmwareVersion")?;
        let selection = PcrSelection::read(&mut c)?;
        let pcr_digest = c.tpm2b("pcrDigest", 64)?;
        c.finish()?;
        Ok(Self {
            raw,
            qualified_signer,
            extra_data,
            clock_info: ClockInfo {
                clock,
                reset_count,
                restart_count,
                safe,
            },
            firmware_version,
            selection,
            pcr_digest,
        })
    }

    /// The exact bytes that were signed.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }
    /// qualifiedSigner (TPM2B_NAME contents): the AK's qualified name, not its Name.
    pub fn qualified_signer(&self) -> &'a [u8] {
        self.qualified_signer
    }
    /// extraData: the caller's nonce, as given to TPM2_Quote.
    pub fn extra_data(&self) -> &'a [u8] {
        self.extra_data
    }
    /// clockInfo.
    pub fn clock_info(&self) -> ClockInfo {
        self.clock_info
    }
    /// firmwareVersion.
    pub fn firmware_version(&self) -> u64 {
        self.firmware_version
    }
    /// The quoted PCR selection.
    pub fn selection(&self) -> &PcrSelection {
        &self.selection
    }
    /// pcrDigest: H_sig of the selected PCR values in selection order.
    pub fn pcr_digest(&self) -> &'a [u8] {
        self.pcr_digest
    }

    /// An owned, serialisable summary.
    pub fn info(&self) -> QuoteInfo {
        QuoteInfo {
            qualified_signer: hx(self.qualified_signer),
            extra_data: hx(self.extra_data),
            clock: self.clock_info,
            firmware_version: format!("0x{:016x}", self.firmware_version),
            pcr_select: self.selection.clone(),
            pcr_digest: hx(self.pcr_digest),
        }
    }
}

/// A TPM2B_NAME's contents are empty, a 4-byte handle, or a hash id plus that hash's digest.
fn check_name(n: &[u8]) -> Result<(), String> {
    match n {
        [] | [_, _, _, _] => Ok(()),
        [a, b, rest @ ..] => {
            let id = u16::from_be_bytes([*a, *b]);
            match HashAlg::from_id(id) {
                Some(h) if h.size() == rest.len() => Ok(()),
                Some(h) => Err(format!("{h} name with a {}-byte digest", rest.len())),
                None => Err(format!("unknown name algorithm 0x{id:04x}")),
            }
        }
        _ => Err(format!("{}-byte name", n.len())),
    }
}

/// Owned fields of a quote, for claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuoteInfo {
    /// qualifiedSigner (hex).
    pub qualified_signer: String,
    /// extraData (hex).
    pub extra_data: String,
    /// clockInfo.
    pub clock: ClockInfo,
    /// firmwareVersion ("0x…").
    pub firmware_version: String,
    /// PCR selection per bank.
    pub pcr_select: PcrSelection,
    /// pcrDigest (hex).
    pub pcr_digest: String,
}
