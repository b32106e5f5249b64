//! Azure SEV-SNP confidential VMs with the paravisor vTPM.
//!
//! Trust chain: AMD ARK → ASK → VCEK → SNP report (VMPL 0, the paravisor) → report_data =
//! H(runtime claims) → `HCLAkPub` → vTPM quote → nonce and PCRs. [`verify_az_snp_vtpm`]
//! checks every link, in this order:
//!
//! 1. **HCL report structure** ([`HclReport::parse`]): header, IGVM request data, SNP slot,
//!    runtime-claims JSON with one `HCLAkPub`, zero padding.
//! 2. **SNP report** through `remits_snp::Verifier`: signature by the VCEK, VCEK → ASK → ARK
//!    (AMD's pinned roots), validity at the injected time, TCB = VCEK SPLs, CHIP_ID = hwID.
//! 3. **VMPL 0**: the report was requested by the paravisor, not by the guest OS above it.
//! 4. **Runtime-claims binding**: report_data[0..n] = H(runtime claims) with the hash the IGVM
//!    request data names, and the rest of report_data is zero.
//! 5. **Quote** ([`crate::verify_quote`]) under `HCLAkPub`, fixed to RSASSA/SHA-256: signature,
//!    structure, nonce, PCR selection = sha256 PCRs 0..n exactly, pcrDigest.
//! 6. **V2 user-data**: the HCL `user-data` starts with the quote's (checked) nonce.

mod evidence;
mod hcl;

pub use evidence::{pem_certificates, AzSnpVtpmEvidence, MAX_EVIDENCE_JSON};
pub use hcl::{HclReport, Jwk, RuntimeClaims, SNP_REPORT_LEN};

use serde::Serialize;

use crate::alg::HashAlg;
use crate::error::{hx, Error};
use crate::key::AttestationKey;
use crate::pcr::PcrValues;
use crate::quote::{verify_quote, NonceCheck, VerifiedQuote};
use crate::signature::{SigScheme, Signature};

/// Claims of verified Azure SNP vTPM evidence.
#[derive(Debug, Clone, Serialize)]
pub struct AzClaims {
    /// trustee evidence version (0, 1, 2).
    pub evidence_version: u8,
    /// The verified SNP report's claims.
    pub snp: remits_snp::SnpClaims,
    /// The verified vTPM quote, with its PCRs per bank.
    pub tpm: VerifiedQuote,
    /// HCL header version.
    pub hcl_version: u32,
    /// The runtime claims (keys, vm-configuration, user-data).
    pub runtime_claims: RuntimeClaims,
    /// The quote nonce (hex): trustee reports it as `report_data`.
    pub report_data: String,
    /// PCR8 (hex): trustee reports it as `init_data`.
    pub init_data: String,
}

/// Verify Azure SNP vTPM evidence. See the module documentation for the checks.
///
/// `snp` holds the trusted AMD roots; `snp_opts` carries the verification time (and any other
/// SNP options; `expected_report_data` must be `None`, the binding is checked here).
pub fn verify_az_snp_vtpm(
    evidence: &AzSnpVtpmEvidence,
    snp: &remits_snp::Verifier,
    snp_opts: &remits_snp::VerifyOptions,
    nonce: NonceCheck<'_>,
) -> Result<AzClaims, Error> {
    // 1. HCL report structure.
    let hcl = HclReport::parse(&evidence.hcl_report)?;
    // 2. SNP report, VCEK chain, TCB, chip id.
    let (leaf, chain) = evidence
        .vcek
        .split_first()
        .ok_or_else(|| Error::Evidence("no VCEK".into()))?;
    let endorsement = remits_snp::Endorsement {
        leaf: leaf.clone(),
        chain: chain.to_vec(),
    };
    let verified = snp.verify(hcl.snp_report(), &endorsement, snp_opts)?;
    let snp_claims = verified.claims;
    // 3. VMPL 0.
    if snp_claims.vmpl != 0 {
        return Err(Error::Vmpl(snp_claims.vmpl));
    }
    // 4. report_data = H(runtime claims) ‖ zeros.
    let digest = hcl.hash().hash(hcl.var_data());
    let rd = &snp_claims.report_data;
    let (head, tail) =
        rd.split_at_checked(digest.len())
            .ok_or_else(|| Error::ReportDataBinding {
                field: "length",
                expected: "64 bytes".into(),
                actual: format!("{} bytes", rd.len()),
            })?;
    if head != digest.as_slice() {
        return Err(Error::ReportDataBinding {
            field: "[0..n] (runtime claims hash)",
            expected: hx(&digest),
            actual: hx(head),
        });
    }
    if tail.iter().any(|b| *b != 0) {
        return Err(Error::ReportDataBinding {
            field: "[n..64]",
            expected: "zero".into(),
            actual: hx(tail),
        });
    }
    // 5. The quote, under HCLAkPub (RSASSA / SHA-256 only).
    let (n, e) = hcl.runtime_claims().hcl_ak_pub()?;
    let ak = AttestationKey::from_rsa_jwk(n, e, Some((SigScheme::Rsassa, HashAlg::Sha256)))?;
    let pcrs = PcrValues::from_list(HashAlg::Sha256, &evidence.pcrs)?;
    let sig = Signature::rsassa_raw(HashAlg::Sha256, &evidence.signature);
    let quote = verify_quote(&evidence.message, &sig, &ak, &pcrs, nonce)?;
    // 6. V2: user-data starts with the nonce.
    let extra = hex::decode(&quote.quote().extra_data).unwrap_or_default();
    if evidence.version >= 2 {
        let ud = hcl
            .runtime_claims()
            .user_data
            .as_deref()
            .ok_or_else(|| Error::UserData("no user-data".into()))?;
        if !ud.starts_with(&extra) {
            return Err(Error::UserData(format!(
                "user-data {} vs nonce {}",
                hx(ud),
                hx(&extra)
            )));
        }
    }
    let init_data = quote
        .pcrs()
        .get(HashAlg::Sha256, 8)
        .map(hx)
        .unwrap_or_default();
    Ok(AzClaims {
        evidence_version: evidence.version,
        snp: snp_claims,
        hcl_version: hcl.version(),
        runtime_claims: hcl.runtime_claims().clone(),
        report_data: hx(&extra),
        init_data,
        tpm: quote,
    })
}
