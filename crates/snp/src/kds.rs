//! AMD Key Distribution Service (KDS) client, feature `kds`: fetches the VCEK for a report, the
//! CA chain and the CRL, keeps them in an on-disk cache, and can run offline from a directory.
//!
//! Nothing fetched is trusted: the certificates go through [`crate::Verifier`] like any others
//! and a CRL through [`crate::Verifier::add_crl`], so a poisoned cache or a hostile server can
//! only make verification fail.
//!
//! The KDS answers HTTP 429 under load. The client honours it: it waits `Retry-After` seconds
//! (at most [`KdsConfig::max_retry_after`], at most [`KdsConfig::max_retries`] times), and when
//! told to wait longer it fails with [`Error::KdsRateLimited`] and sends nothing to the KDS
//! until that time has passed (cached files are still served).
//!
//! Directory layout (cache and offline mode; compatible with trustee's VCEK layout):
//! - `vcek/<hwid>/bl<NN>_tee<NN>_snp<NN>_ucode<NN>[_fmc<NN>]_vcek.der`, or `vcek/<hwid>/vcek.der`
//!   (offline fallback); `<hwid>` is the lowercase hex of the 64-byte chip ID (Turin: 8 bytes);
//! - `<Product>/cert_chain.pem` (ASK, ARK) and `<Product>/vlek_cert_chain.pem` (ASVK, ARK);
//! - `<Product>/crl.der` and `<Product>/vlek_crl.der`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::cert::pem_bundle_to_der;
use crate::report::{Report, TcbVersion};
use crate::{Endorsement, Error, Generation, Signer};

/// AMD's KDS.
pub const AMD_KDS_URL: &str = "https://kdsintf.amd.com";

/// Largest body accepted from the KDS or read from the cache (certificates are about 1.5 KiB,
/// chains 4 KiB, CRLs a few KiB).
const MAX_BODY: usize = 1 << 20;

/// How the client reaches the KDS.
#[derive(Debug, Clone)]
pub struct KdsConfig {
    /// Base URL (default [`AMD_KDS_URL`]); tests point it at a loopback server.
    pub base_url: String,
    /// On-disk cache, read first and written after each successful fetch; in offline mode, the
    /// directory of certificates.
    pub cache_dir: Option<PathBuf>,
    /// Never contact the KDS: serve only what `cache_dir` holds.
    pub offline: bool,
    /// How many times a 429 answer is retried.
    pub max_retries: u32,
    /// The longest `Retry-After` the client waits for; a longer one fails at once.
    pub max_retry_after: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Default for KdsConfig {
    fn default() -> Self {
        KdsConfig {
            base_url: AMD_KDS_URL.to_owned(),
            cache_dir: None,
            offline: false,
            max_retries: 2,
            max_retry_after: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
        }
    }
}

impl KdsConfig {
    /// Offline mode over a directory of certificates (layout in the module documentation).
    pub fn offline(dir: impl Into<PathBuf>) -> Self {
        KdsConfig {
            cache_dir: Some(dir.into()),
            offline: true,
            ..KdsConfig::default()
        }
    }
}

/// A KDS client with an on-disk cache.
#[derive(Debug)]
pub struct Kds {
    cfg: KdsConfig,
    http: reqwest::Client,
    /// Set by a 429 whose wait was too long: no request is sent before this time.
    blocked_until: Mutex<Option<SystemTime>>,
}

fn unavailable(url: &str, reason: impl std::fmt::Display) -> Error {
    Error::KdsUnavailable {
        url: url.to_owned(),
        reason: reason.to_string(),
    }
}

/// The `<hwid>` path component for `generation` (lowercase hex; 8 bytes on Turin).
pub fn hwid_hex(chip_id: &[u8; 64], generation: Generation) -> String {
    let n = if generation.has_fmc() { 8 } else { 64 };
    hex::encode(chip_id.get(..n).unwrap_or(&[]))
}

/// The KDS query string for a TCB (`fmcSPL` first on Turin; two-digit SPLs).
pub fn tcb_query(tcb: &TcbVersion) -> String {
    let fmc = tcb
        .fmc
        .map(|f| format!("fmcSPL={f:02}&"))
        .unwrap_or_default();
    format!(
        "{fmc}blSPL={:02}&teeSPL={:02}&snpSPL={:02}&ucodeSPL={:02}",
        tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode
    )
}

fn tcb_file_name(tcb: &TcbVersion) -> String {
    let fmc = tcb.fmc.map(|f| format!("_fmc{f:02}")).unwrap_or_default();
    format!(
        "bl{:02}_tee{:02}_snp{:02}_ucode{:02}{fmc}_vcek.der",
        tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode
    )
}

fn kind_dir(signer: Signer) -> &'static str {
    match signer {
        Signer::Vcek => "vcek",
        Signer::Vlek => "vlek",
    }
}

fn read_bounded(path: &Path) -> Option<Vec<u8>> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_BODY as u64 {
        return None;
    }
    std::fs::read(path).ok()
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io = |e: std::io::Error| Error::Input {
        what: format!("KDS cache {}", path.display()),
        reason: e.to_string(),
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// The generation of a report for KDS purposes: the caller's, else CPUID (v3+), else (v2) Turin
/// when only the first 8 chip-ID bytes are set; Milan and Genoa v2 reports need the caller's.
///
/// # Errors
///
/// [`Error::KdsNotFetchable`] for a v2 Milan or Genoa report without `given`, [`Error::UnknownCpu`]
/// for a CPUID that names no supported generation.
pub fn report_generation(
    report: &Report<'_>,
    given: Option<Generation>,
) -> Result<Generation, Error> {
    if let Some(g) = given {
        return Ok(g);
    }
    if let Some(g) = report.cpuid_generation() {
        return g;
    }
    let chip = report.chip_id();
    if chip.iter().all(|&b| b == 0) {
        return Err(Error::KdsNotFetchable(
            "CHIP_ID is masked: the VCEK cannot be looked up",
        ));
    }
    if chip.get(8..).is_some_and(|t| t.iter().all(|&b| b == 0)) {
        return Ok(Generation::Turin);
    }
    Err(Error::GenerationUnknown)
}

impl Kds {
    /// A client for `cfg`.
    ///
    /// # Errors
    ///
    /// [`Error::KdsUnavailable`] when the HTTP client cannot be built.
    pub fn new(cfg: KdsConfig) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| unavailable(&cfg.base_url, e))?;
        Ok(Kds {
            cfg,
            http,
            blocked_until: Mutex::new(None),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &KdsConfig {
        &self.cfg
    }

    fn cached(&self, rel: &str) -> Option<Vec<u8>> {
        self.cfg
            .cache_dir
            .as_ref()
            .and_then(|d| read_bounded(&d.join(rel)))
    }

    fn store(&self, rel: &str, bytes: &[u8]) -> Result<(), Error> {
        match (&self.cfg.cache_dir, self.cfg.offline) {
            (Some(d), false) => write_atomic(&d.join(rel), bytes),
            _ => Ok(()),
        }
    }

    fn offline_miss(&self, rel: &str) -> Error {
        let path = match &self.cfg.cache_dir {
            Some(d) => d.join(rel).display().to_string(),
            None => rel.to_owned(),
        };
        Error::KdsNotCached { path }
    }

    /// GET `path` from the KDS, honouring 429, with a bounded body.
    async fn get(&self, path: &str) -> Result<Vec<u8>, Error> {
        let url = format!("{}{}", self.cfg.base_url.trim_end_matches('/'), path);
        let mut attempt = 0u32;
        loop {
            if let Ok(guard) = self.blocked_until.lock() {
                if let Some(until) = *guard {
                    if let Ok(left) = until.duration_since(SystemTime::now()) {
                        return Err(Error::KdsRateLimited {
                            url,
                            retry_after_secs: left.as_secs().max(1),
                        });
                    }
                }
            }
            let resp = self
                .http
                .get(&url)
                .send()
                .await
                .map_err(|e| unavailable(&url, e))?;
            let status = resp.status();
            if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                let wait = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs)
                    .unwrap_or_else(|| Duration::from_secs(1u64 << attempt.min(5)));
                if attempt >= self.cfg.max_retries || wait > self.cfg.max_retry_after {
                    if let Ok(mut guard) = self.blocked_until.lock() {
                        *guard = Some(SystemTime::now() + wait);
                    }
                    return Err(Error::KdsRateLimited {
                        url,
                        retry_after_secs: wait.as_secs(),
                    });
                }
                attempt += 1;
                tokio::time::sleep(wait).await;
                continue;
            }
            if !status.is_success() {
                return Err(Error::KdsHttp {
                    url,
                    status: status.as_u16(),
                });
            }
            if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
                return Err(unavailable(&url, "body larger than 1 MiB"));
            }
            let mut resp = resp;
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| unavailable(&url, e))? {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(unavailable(&url, "body larger than 1 MiB"));
                }
                body.extend_from_slice(&chunk);
            }
            return Ok(body);
        }
    }

    /// The VCEK (DER) for a chip and TCB: from the cache, else from the KDS (then cached).
    ///
    /// # Errors
    ///
    /// [`Error::KdsNotCached`] offline without a cached copy, [`Error::KdsRateLimited`],
    /// [`Error::KdsHttp`] or [`Error::KdsUnavailable`] when the KDS refuses or cannot be reached,
    /// [`Error::KdsNotFetchable`] for a TCB the KDS has no VCEK for.
    pub async fn vcek(
        &self,
        generation: Generation,
        chip_id: &[u8; 64],
        tcb: &TcbVersion,
    ) -> Result<Vec<u8>, Error> {
        if chip_id.iter().all(|&b| b == 0) {
            return Err(Error::KdsNotFetchable(
                "CHIP_ID is masked: the VCEK cannot be looked up",
            ));
        }
        let hwid = hwid_hex(chip_id, generation);
        let rel = format!("vcek/{hwid}/{}", tcb_file_name(tcb));
        if let Some(der) = self.cached(&rel) {
            return Ok(der);
        }
        if self.cfg.offline {
            let fallback = format!("vcek/{hwid}/vcek.der");
            return self
                .cached(&fallback)
                .ok_or_else(|| self.offline_miss(&rel));
        }
        let path = format!(
            "/vcek/v1/{}/{hwid}?{}",
            generation.product(),
            tcb_query(tcb)
        );
        let der = self.get(&path).await?;
        crate::cert::AmdCert::from_der(&der, crate::CertRole::Vcek)?;
        self.store(&rel, &der)?;
        Ok(der)
    }

    /// The VCEK for a raw report (its CHIP_ID and REPORTED_TCB). VLEKs are not publicly
    /// fetchable: a VLEK-signed report is refused with [`Error::KdsNotFetchable`].
    ///
    /// # Errors
    ///
    /// [`Error::KdsNotFetchable`] for a VLEK-signed report, the parse errors of the report, and as
    /// [`Kds::vcek`].
    pub async fn vcek_for_report(
        &self,
        report: &[u8],
        generation: Option<Generation>,
    ) -> Result<Vec<u8>, Error> {
        let r = Report::parse(report)?;
        if r.key_info().signer()? == Signer::Vlek {
            return Err(Error::KdsNotFetchable(
                "a VLEK is issued to the cloud provider, not published by the KDS",
            ));
        }
        let g = report_generation(&r, generation)?;
        let tcb = TcbVersion::decode(r.reported_tcb_raw(), g);
        self.vcek(g, r.chip_id(), &tcb).await
    }

    /// The CA chain for `signer` (VCEK: ASK then ARK; VLEK: ASVK then ARK), DER.
    ///
    /// # Errors
    ///
    /// As [`Kds::vcek`].
    pub async fn cert_chain(
        &self,
        generation: Generation,
        signer: Signer,
    ) -> Result<Vec<Vec<u8>>, Error> {
        let file = match signer {
            Signer::Vcek => "cert_chain.pem",
            Signer::Vlek => "vlek_cert_chain.pem",
        };
        let rel = format!("{}/{file}", generation.product());
        let pem = match self.cached(&rel) {
            Some(p) => p,
            None if self.cfg.offline => return Err(self.offline_miss(&rel)),
            None => {
                let path = format!(
                    "/{}/v1/{}/cert_chain",
                    kind_dir(signer),
                    generation.product()
                );
                let pem = self.get(&path).await?;
                self.parse_chain(&pem)?;
                self.store(&rel, &pem)?;
                pem
            }
        };
        self.parse_chain(&pem)
    }

    fn parse_chain(&self, pem: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
        let text = std::str::from_utf8(pem).map_err(|_| Error::Input {
            what: "KDS cert_chain".into(),
            reason: "not PEM text".into(),
        })?;
        let certs = pem_bundle_to_der(text)?;
        if certs.is_empty() {
            return Err(Error::Input {
                what: "KDS cert_chain".into(),
                reason: "no certificate".into(),
            });
        }
        Ok(certs)
    }

    /// The CRL (DER) of the `signer` path. Online, a fresh copy is fetched and cached; when the
    /// KDS cannot be reached (or rate-limits), the cached copy is returned. Offline, the cached
    /// copy. Verify it with [`crate::Verifier::add_crl`].
    ///
    /// # Errors
    ///
    /// [`Error::KdsNotCached`] when there is neither a fresh nor a cached copy, and as
    /// [`Kds::vcek`].
    pub async fn crl(&self, generation: Generation, signer: Signer) -> Result<Vec<u8>, Error> {
        let file = match signer {
            Signer::Vcek => "crl.der",
            Signer::Vlek => "vlek_crl.der",
        };
        let rel = format!("{}/{file}", generation.product());
        if self.cfg.offline {
            return self.cached(&rel).ok_or_else(|| self.offline_miss(&rel));
        }
        let path = format!("/{}/v1/{}/crl", kind_dir(signer), generation.product());
        match self.get(&path).await {
            // Only a well-formed CRL replaces the cached copy (its signature is checked by
            // `Verifier::add_crl`, which keeps the newer of the held and the offered one).
            Ok(der) if <x509_cert::crl::CertificateList as der::Decode>::from_der(&der).is_ok() => {
                self.store(&rel, &der)?;
                Ok(der)
            }
            Ok(_) => self.cached(&rel).ok_or_else(|| {
                Error::CrlInvalid(format!(
                    "{}{path}: the KDS answer is not a DER CRL",
                    self.cfg.base_url
                ))
            }),
            Err(e) => self.cached(&rel).ok_or(e),
        }
    }

    /// VCEK and CA chain for a raw VCEK-signed report, ready for [`crate::Verifier::verify`].
    ///
    /// # Errors
    ///
    /// As [`Kds::vcek_for_report`] and [`Kds::cert_chain`].
    pub async fn endorsement(
        &self,
        report: &[u8],
        generation: Option<Generation>,
    ) -> Result<Endorsement, Error> {
        let leaf = self.vcek_for_report(report, generation).await?;
        let r = Report::parse(report)?;
        let g = report_generation(&r, generation)?;
        let chain = self.cert_chain(g, Signer::Vcek).await?;
        Ok(Endorsement { leaf, chain })
    }
}
