//! Evidence collectors for the attester: SEV-SNP device, TPM (tss-esapi), Azure vTPM, simulator.
//!
//! - [`snp_device`]: `/dev/sev-guest` extended reports (VCEK/VLEK in the certificate table).
//! - [`tpm`]: quotes over PCR banks through any TCTI, PCR re-read and re-quote, PCR15/PCR16
//!   extension from a `remits-measure` manifest's extend plan.
//! - [`azure`]: Azure SNP vTPM (HCL report, user-data NV index, vTPM AK), trustee's v2 form.
//! - [`sample`]: trustee's `sample` TEE; the SNP simulator lives in `remits-sim`.
//! - [`detect`]: `--tee auto|snp|az-snp-vtpm|tpm|sim-snp|sample`.
//! - [`deliver`]: private secret directories and all-or-nothing atomic secret files.
//! - [`efi_secret`]: SEV launch-secret tables (guest owner) and the securityfs reader (guest).
//! - [`luks`]: opening a LUKS2 volume with a released key through `cryptsetup` (key on a pipe).
#![forbid(unsafe_code)]

pub mod azure;
pub mod deliver;
pub mod detect;
pub mod efi_secret;
mod error;
pub mod luks;
pub mod sample;
pub mod snp_device;
pub mod tpm;
pub mod trustee;

pub use error::AttestError;

/// Reads at most `limit` bytes of a file; larger files are an error.
pub(crate) fn read_limited(path: &std::path::Path, limit: u64) -> Result<Vec<u8>, AttestError> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| AttestError::io(path, e))?;
    let mut buf = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| AttestError::io(path, e))?;
    if buf.len() as u64 > limit {
        return Err(AttestError::Invalid {
            what: "file",
            reason: format!("{} is larger than {limit} bytes", path.display()),
        });
    }
    Ok(buf)
}
