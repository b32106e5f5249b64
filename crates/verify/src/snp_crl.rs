//! AMD CRLs for the service's SNP verifier: configured files, and with feature `kds` AMD's VCEK
//! and VLEK CRLs fetched in the background (see [`ServiceConfig`]'s `snp_crl_*` settings).
//!
//! - Files (`snp_vcek_crl_files`, `snp_vlek_crl_files`) are read once at start; a file that is
//!   unreadable, larger than 1 MiB, or does not verify under a trusted ARK refuses the start.
//!   The key says which list a file is (AMD's two lists cannot be told apart by content).
//! - KDS (`snp_crl_fetch`): at start, the copies in `snp_kds_cache_dir` are loaded (a bad copy is
//!   skipped); then a background task fetches both CRLs of every product at once and every
//!   `snp_crl_refresh_secs`, verifies each, and keeps it when it is newer than the one held.
//!   No request ever triggers a fetch, so attesters cannot make the service call the KDS; the
//!   KDS client honours 429 and its timeouts.
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use remits_evidence::clock::Clock;
use remits_snp::{CrlKind, TrustAnchors, Verifier};

use crate::{CrlMode, Error, ServiceConfig};

/// Largest CRL file accepted (AMD's are a few KiB).
const MAX_CRL_FILE: u64 = 1 << 20;

fn config_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Config(format!("{}: {e}", path.display()))
}

/// Read at most [`MAX_CRL_FILE`] bytes, enforced while reading.
fn read_bounded(path: &Path) -> Result<Vec<u8>, Error> {
    let f = std::fs::File::open(path).map_err(|e| config_err(path, e))?;
    let mut buf = Vec::new();
    f.take(MAX_CRL_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|e| config_err(path, e))?;
    if buf.len() as u64 > MAX_CRL_FILE {
        return Err(config_err(path, "larger than 1 MiB: not a CRL"));
    }
    Ok(buf)
}

/// The CRL settings of a service's SNP verifier (from [`ServiceConfig`] or the builder).
#[derive(Debug, Clone, Default)]
pub(crate) struct CrlSettings {
    /// How chains are checked against CRLs.
    pub(crate) mode: CrlMode,
    /// Maximum CRL age.
    pub(crate) max_age: Option<Duration>,
    /// VCEK CRLs (DER or PEM), each with a label naming it in errors.
    pub(crate) vcek: Vec<(String, Vec<u8>)>,
    /// VLEK CRLs likewise.
    pub(crate) vlek: Vec<(String, Vec<u8>)>,
    /// Background KDS fetching (feature `kds`): the configuration it is read from.
    pub(crate) fetch: Option<ServiceConfig>,
}

impl CrlSettings {
    /// The settings of `cfg`, reading its CRL files (at most 1 MiB each).
    pub(crate) fn from_config(cfg: &ServiceConfig) -> Result<Self, Error> {
        cfg.validate_crl()?;
        let read = |files: &[std::path::PathBuf]| -> Result<Vec<(String, Vec<u8>)>, Error> {
            files
                .iter()
                .map(|p| Ok((p.display().to_string(), read_bounded(p)?)))
                .collect()
        };
        Ok(CrlSettings {
            mode: cfg.snp_crl_check,
            max_age: cfg.snp_crl_max_age_secs.map(Duration::from_secs),
            vcek: read(&cfg.snp_vcek_crl_files)?,
            vlek: read(&cfg.snp_vlek_crl_files)?,
            fetch: cfg.snp_crl_fetch.then(|| cfg.clone()),
        })
    }

    /// Refuse settings that cannot work: fail-closed with no CRL source denies every report.
    fn validate(&self) -> Result<(), Error> {
        if self.max_age == Some(Duration::ZERO) {
            return Err(Error::Config("snp crl max age must be at least 1 s".into()));
        }
        let sources = self.fetch.is_some() || !self.vcek.is_empty() || !self.vlek.is_empty();
        if self.mode == CrlMode::FailClosed && !sources {
            return Err(Error::Config(
                "snp_crl_check = \"fail-closed\" needs snp_vcek_crl_files, snp_vlek_crl_files \
                 or snp_crl_fetch: without a CRL every SNP attestation would be denied"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// The SNP verifier of a service: trust anchors, CRL mode and maximum age, the given CRLs
/// loaded, and (feature `kds`, `snp_crl_fetch`) cached KDS CRLs loaded and the background
/// refresh started.
pub(crate) fn snp_verifier(
    anchors: TrustAnchors,
    crl: &CrlSettings,
    clock: Arc<dyn Clock>,
) -> Result<Arc<Verifier>, Error> {
    crl.validate()?;
    let verifier = Verifier::new(anchors)
        .with_crl_check(crl.mode.into())
        .with_crl_max_age(crl.max_age);
    let now = clock.now();
    for (list, kind) in [(&crl.vcek, CrlKind::Vcek), (&crl.vlek, CrlKind::Vlek)] {
        for (label, bytes) in list {
            // An operator's file: DER, or one PEM `X509 CRL` block (lenient: any line length).
            let der = remits_codec::pem::der_or_pem(bytes, "X509 CRL")
                .map_err(|e| Error::Config(format!("{label}: {e}")))?;
            verifier
                .add_crl(&der, kind, now)
                .map_err(|e| Error::Config(format!("{label} ({kind} CRL): {e}")))?;
        }
    }
    let verifier = Arc::new(verifier);
    #[cfg(feature = "kds")]
    if let Some(cfg) = &crl.fetch {
        fetch::start(&verifier, cfg, clock, now)?;
    }
    Ok(verifier)
}

/// Load one fetched or cached CRL; a CRL that does not verify is dropped (the held one stays).
#[cfg_attr(not(feature = "kds"), allow(dead_code))]
fn offer(verifier: &Verifier, der: &[u8], kind: CrlKind, now: SystemTime) -> bool {
    verifier.add_crl(der, kind, now).is_ok()
}

#[cfg(feature = "kds")]
mod fetch {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use remits_evidence::clock::Clock;
    use remits_snp::kds::{Kds, KdsConfig, AMD_KDS_URL};
    use remits_snp::{CrlKind, Generation, Signer, Verifier};

    use super::{offer, read_bounded};
    use crate::{Error, ServiceConfig};

    fn kinds() -> [(CrlKind, Signer); 2] {
        [(CrlKind::Vcek, Signer::Vcek), (CrlKind::Vlek, Signer::Vlek)]
    }

    /// Load the cached copies now, then fetch in the background.
    pub(super) fn start(
        verifier: &Arc<Verifier>,
        cfg: &ServiceConfig,
        clock: Arc<dyn Clock>,
        now: SystemTime,
    ) -> Result<(), Error> {
        // The cache layout of `remits_snp::kds`: `<Product>/crl.der`, `<Product>/vlek_crl.der`.
        if let Some(dir) = &cfg.snp_kds_cache_dir {
            for g in Generation::ALL {
                for (kind, file) in [(CrlKind::Vcek, "crl.der"), (CrlKind::Vlek, "vlek_crl.der")] {
                    if let Ok(der) = read_bounded(&dir.join(g.product()).join(file)) {
                        offer(verifier, &der, kind, now);
                    }
                }
            }
        }
        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::Config("snp_crl_fetch needs to run inside a tokio runtime".into())
        })?;
        let kds = Kds::new(KdsConfig {
            base_url: cfg
                .snp_kds_url
                .clone()
                .unwrap_or_else(|| AMD_KDS_URL.to_owned()),
            cache_dir: cfg.snp_kds_cache_dir.clone(),
            offline: false,
            timeout: Duration::from_secs(20),
            ..KdsConfig::default()
        })
        .map_err(|e| Error::Config(e.to_string()))?;
        let weak = Arc::downgrade(verifier);
        let every = Duration::from_secs(cfg.snp_crl_refresh_secs);
        handle.spawn(async move {
            loop {
                let Some(v) = weak.upgrade() else { break };
                for g in Generation::ALL {
                    for (kind, signer) in kinds() {
                        if let Ok(der) = kds.crl(g, signer).await {
                            offer(&v, &der, kind, clock.now());
                        }
                    }
                }
                drop(v);
                tokio::time::sleep(every).await;
            }
        });
        Ok(())
    }
}
