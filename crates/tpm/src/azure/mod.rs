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

/// Claims of verified Azure SNP vTPM evidence. Only [`verify_az_snp_vtpm`] builds one: the
/// fields are private, so holding an `AzClaims` is proof that every check ran.
///
/// ```compile_fail,E0451
/// fn forge(c: remits_tpm::azure::AzClaims) -> remits_tpm::azure::AzClaims {
///     remits_tpm::azure::AzClaims { evidence_version: 2, ..c }
/// }
/// ```
#[derive(Debug, Clone, Serialize)]
#[must_use = "a verification result: use it (or bind it to `_` to drop it on purpose)"]
pub struct AzClaims {
    evidence_version: u8,
    snp: remits_snp::SnpClaims,
    #[serde(skip)]
    snp_amd_root: bool,
    #[serde(skip)]
    snp_ark_sha256: [u8; 32],
    tpm: VerifiedQuote,
    hcl_version: u32,
    runtime_claims: RuntimeClaims,
    report_data: String,
    init_data: String,
}

impl AzClaims {
    /// trustee evidence version (0, 1, 2).
    pub fn evidence_version(&self) -> u8 {
        self.evidence_version
    }
    /// The verified SNP report's claims.
    pub fn snp(&self) -> &remits_snp::SnpClaims {
        &self.snp
    }
    /// Whether the SNP report chains to AMD's built-in ARK (not an explicitly added root).
    pub fn snp_amd_root(&self) -> bool {
        self.snp_amd_root
    }
    /// SHA-256 of the ARK the SNP report's chain ends in.
    pub fn snp_ark_sha256(&self) -> &[u8; 32] {
        &self.snp_ark_sha256
    }
    /// The verified vTPM quote, with its PCRs per bank.
    pub fn tpm(&self) -> &VerifiedQuote {
        &self.tpm
    }
    /// HCL header version.
    pub fn hcl_version(&self) -> u32 {
        self.hcl_version
    }
    /// The runtime claims (keys, vm-configuration, user-data).
    pub fn runtime_claims(&self) -> &RuntimeClaims {
        &self.runtime_claims
    }
    /// The quote nonce (hex): trustee reports it as `report_data`.
    pub fn report_data(&self) -> &str {
        &self.report_data
    }
    /// PCR8 (hex): trustee reports it as `init_data`.
    pub fn init_data(&self) -> &str {
        &self.init_data
    }
}

/// Verify Azure SNP vTPM evidence. See the module documentation for the checks.
///
/// `snp` holds the trusted AMD roots; `snp_opts` carries the verification time (and any other
/// SNP options; `expected_report_data` must be `None`, the binding is checked here).
///
/// # Errors
///
/// The typed error of the first check that fails, in the order of the module documentation: HCL
/// report structure ([`Error::HclField`], [`Error::RuntimeClaims`]), the SNP report and chain
/// ([`Error::Snp`]), [`Error::ReportDataBinding`], [`Error::Vmpl`], the quote ([`verify_quote`]'s
/// errors) and [`Error::Evidence`] for malformed evidence.
#[must_use = "the claims are the only trusted view of the evidence"]
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
    let snp_amd_root = verified.amd_root();
    let snp_ark_sha256 = *verified.ark_sha256();
    let snp_claims = verified.into_claims();
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
        snp_amd_root,
        snp_ark_sha256,
        hcl_version: hcl.version(),
        runtime_claims: hcl.runtime_claims().clone(),
        report_data: hx(&extra),
        init_data,
        tpm: quote,
    })
}
