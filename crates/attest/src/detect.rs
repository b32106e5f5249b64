//! Choosing a collector: `--tee auto|snp|az-snp-vtpm|tpm|sim-snp|sample`.
//!
//! `auto` tries, in order, the SEV-SNP guest device, an Azure vTPM (a TPM holding the HCL report
//! NV index) and a plain TPM with the configured AK, and takes the first that works. The
//! simulator and the sample TEE are used only when asked for by name.

use std::path::PathBuf;
use std::str::FromStr;

use remits_evidence::attester::{Attester, AttesterError};
use remits_evidence::initdata::InitData;

use crate::azure::{has_hcl_report, AzSnpVtpmAttester, AzureConfig};
use crate::sample::SampleAttester;
use crate::snp_device::SnpDeviceAttester;
use crate::tpm::{TpmAttester, TpmConfig};

/// The collector asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TeeChoice {
    /// The first hardware collector that works.
    Auto,
    /// `/dev/sev-guest`.
    Snp,
    /// Azure SNP vTPM.
    AzSnpVtpm,
    /// TPM 2.0 via tss-esapi.
    Tpm,
    /// The SNP simulator (development only).
    SimSnp,
    /// trustee's sample TEE (development only).
    Sample,
}

impl FromStr for TeeChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "auto" => TeeChoice::Auto,
            "snp" => TeeChoice::Snp,
            "az-snp-vtpm" => TeeChoice::AzSnpVtpm,
            "tpm" => TeeChoice::Tpm,
            "sim-snp" => TeeChoice::SimSnp,
            "sample" => TeeChoice::Sample,
            other => {
                return Err(format!(
                "unknown TEE {other:?} (expected auto, snp, az-snp-vtpm, tpm, sim-snp or sample)"
            ))
            }
        })
    }
}

/// Everything the collectors need to be built.
#[derive(Clone, Debug, Default)]
pub struct CollectorOptions {
    /// TPM settings (also the TCTI of the Azure vTPM).
    pub tpm: TpmConfig,
    /// Azure settings (its `tcti` is taken from `tpm.tcti`).
    pub azure: AzureConfig,
    /// Directory of the simulator chain (`remits-broker serve --dev` writes `<data-dir>/sim`).
    pub sim_dir: PathBuf,
    /// Produce evidence only in trustee's forms (for a trustee KBS or a broker in
    /// `compat = "trustee"` mode); see [`crate::trustee`].
    pub trustee_forms: bool,
    /// The init-data the guest was launched with. The simulator reports its digest in
    /// HOST_DATA, as a host does at launch (on hardware the host sets HOST_DATA; the collector
    /// cannot change it).
    pub init_data: Option<InitData>,
    /// Simulator only: the HOST_DATA to report instead (the host launched the guest with
    /// other init-data), for tests of the verifier's init-data check.
    pub sim_host_data: Option<[u8; 32]>,
}

/// The init-data digest fitted to 32 bytes: the SNP HOST_DATA value, and what is extended
/// into PCR8 on a TPM (as the verifier compares them).
///
/// # Errors
///
/// [`AttesterError::Failed`] when the init-data document is invalid.
pub fn init_data_digest32(init_data: &InitData) -> Result<[u8; 32], AttesterError> {
    let (_, digest) = init_data.digest().map_err(|e| AttesterError::Failed {
        tee: "init-data",
        reason: e.to_string(),
    })?;
    let mut out = [0u8; 32];
    out.copy_from_slice(&remits_evidence::binding::fit(&digest, 32));
    Ok(out)
}

/// Builds the collector for `choice` (in trustee's evidence forms when `opts.trustee_forms`).
///
/// # Errors
///
/// [`AttesterError::Unavailable`] when the chosen TEE is not present, [`AttesterError::Failed`]
/// when its collector cannot be set up.
pub fn select(
    choice: TeeChoice,
    opts: &CollectorOptions,
) -> Result<Box<dyn Attester>, AttesterError> {
    let a = select_native(choice, opts)?;
    Ok(if opts.trustee_forms {
        Box::new(crate::trustee::TrusteeForm(a))
    } else {
        a
    })
}

/// With init-data on a plain TPM: bind its digest to PCR8 (see
/// [`crate::tpm::bind_init_data_pcr8`]); a PCR8 holding something else is left alone, with a
/// warning (the verifier then denies the init-data binding by name).
fn bind_pcr8(opts: &CollectorOptions) -> Result<(), AttesterError> {
    let Some(init) = &opts.init_data else {
        return Ok(());
    };
    let digest = init_data_digest32(init)?;
    match crate::tpm::bind_init_data_pcr8(&opts.tpm.tcti, &digest, opts.tpm.timeout) {
        Ok(crate::tpm::Pcr8Binding::Other(v)) => {
            tracing::warn!(
                pcr8 = %hex::encode(v),
                "PCR8 already holds another value: init-data not bound (the verifier will deny it)"
            );
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(AttesterError::Failed {
            tee: "tpm",
            reason: format!("binding init-data to PCR8: {e}"),
        }),
    }
}

fn select_native(
    choice: TeeChoice,
    opts: &CollectorOptions,
) -> Result<Box<dyn Attester>, AttesterError> {
    let azure = AzureConfig {
        tcti: opts.tpm.tcti.clone(),
        ..opts.azure.clone()
    };
    match choice {
        TeeChoice::Snp => Ok(Box::new(SnpDeviceAttester::open()?)),
        TeeChoice::AzSnpVtpm => Ok(Box::new(AzSnpVtpmAttester::new(azure))),
        TeeChoice::Tpm => {
            bind_pcr8(opts)?;
            Ok(Box::new(TpmAttester::new(opts.tpm.clone())))
        }
        TeeChoice::Sample => Ok(Box::new(SampleAttester)),
        TeeChoice::SimSnp => {
            let a = remits_sim::SimSnpAttester::load(&opts.sim_dir).map_err(|e| {
                AttesterError::Unavailable {
                    tee: "sim-snp",
                    reason: format!("{e} (start `remits-broker serve --dev` or pass --sim-dir)"),
                }
            })?;
            let host_data = match (&opts.sim_host_data, &opts.init_data) {
                (Some(h), _) => Some(*h),
                (None, Some(i)) => Some(init_data_digest32(i)?),
                (None, None) => None,
            };
            Ok(match host_data {
                Some(host_data) => {
                    let params = remits_sim::ReportParams {
                        host_data,
                        ..a.params().clone()
                    };
                    Box::new(a.with_params(params))
                }
                None => Box::new(a),
            })
        }
        TeeChoice::Auto => {
            let mut tried = Vec::new();
            match SnpDeviceAttester::open() {
                Ok(a) => return Ok(Box::new(a)),
                Err(e) => tried.push(e.to_string()),
            }
            if has_hcl_report(&azure.tcti) {
                return Ok(Box::new(AzSnpVtpmAttester::new(azure)));
            }
            tried.push(format!("az-snp-vtpm: no HCL report on {}", azure.tcti));
            match TpmAttester::probe(opts.tpm.clone()) {
                Ok(a) => {
                    bind_pcr8(opts)?;
                    return Ok(Box::new(a));
                }
                Err(e) => tried.push(format!("tpm: {e}")),
            }
            Err(AttesterError::Unavailable {
                tee: "auto",
                reason: format!("no hardware TEE found ({})", tried.join("; ")),
            })
        }
    }
}
