//! AMD CRLs in the attestation service (`snp_crl_*` settings), with CRLs in AMD's format signed
//! under the simulator's generated ARK: a revoked ASK is denied naming the check; the VCEK and
//! VLEK CRLs are both kept; stale + fail-closed denies; missing + fail-open allows; a CRL that
//! does not verify refuses the start.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use remits_evidence::clock::FixedClock;
use remits_sim::{CrlSpec, SimArk, SimChain, SimOptions, SimSnpAttester};
use remits_store::MemoryStore;
use remits_verify::{AttestationService, CrlMode, Error, PolicyChoice, ServiceConfig};
use serde_json::Value;

const DAY: Duration = Duration::from_secs(86_400);

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_000_000) // 2026-11-18
}

struct Fixture {
    dir: tempfile::TempDir,
    ark: SimArk,
    evidence: Value,
}

impl Fixture {
    fn new() -> Self {
        let opts = SimOptions {
            now: now() - 30 * DAY,
            ..SimOptions::default()
        };
        let (chain, ark) = SimChain::generate_with_ark(&mut rand::rngs::OsRng, &opts).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ark.der"), chain.ark_der()).unwrap();
        let ev = SimSnpAttester::new(chain).snp_evidence(&[7u8; 64]).unwrap();
        Fixture {
            dir,
            ark,
            evidence: serde_json::to_value(ev).unwrap(),
        }
    }

    /// Write a CRL signed by the simulator's ARK.
    fn crl(
        &self,
        name: &str,
        revoked: &[u32],
        this: SystemTime,
        next: Option<SystemTime>,
    ) -> PathBuf {
        let der = self
            .ark
            .crl(
                &CrlSpec {
                    revoked: revoked.to_vec(),
                    this_update: this,
                    next_update: next,
                    distribution_point: None,
                },
                &mut rand::rngs::OsRng,
            )
            .unwrap();
        let p = self.dir.path().join(name);
        std::fs::write(&p, der).unwrap();
        p
    }

    fn config(&self, mode: CrlMode, vcek: Vec<PathBuf>, vlek: Vec<PathBuf>) -> ServiceConfig {
        ServiceConfig {
            snp_extra_arks: vec![self.dir.path().join("ark.der")],
            attestation_policy: PolicyChoice::Development,
            snp_crl_check: mode,
            snp_vcek_crl_files: vcek,
            snp_vlek_crl_files: vlek,
            ..ServiceConfig::default()
        }
    }
}

async fn service(cfg: ServiceConfig) -> Result<AttestationService, Error> {
    AttestationService::with_signing_key(
        cfg,
        Arc::new(MemoryStore::new()),
        Arc::new(FixedClock(now())),
        p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap(),
    )
    .await
}

/// Appraise the simulator evidence (report data checked); Ok means the evidence verified.
async fn appraise(svc: &AttestationService, ev: &Value) -> Result<(), Error> {
    svc.appraise(
        "snp",
        ev,
        &remits_verify::Binding::ReportData(vec![7u8; 64]),
        None,
    )
    .await
    .map(|_| ())
}

fn rejected_reason(r: Result<(), Error>) -> String {
    match r {
        Err(e @ Error::EvidenceRejected { .. }) => e.to_string(),
        other => panic!("expected EvidenceRejected, got {other:?}"),
    }
}

#[tokio::test]
async fn revoked_ask_is_denied_naming_the_crl_check() {
    let f = Fixture::new();
    let revoking = f.crl(
        "vcek.crl",
        &[f.ark.ask_serial()],
        now() - DAY,
        Some(now() + 6 * DAY),
    );
    for mode in [CrlMode::FailOpen, CrlMode::FailClosed] {
        let svc = service(f.config(mode, vec![revoking.clone()], vec![]))
            .await
            .unwrap();
        let reason = rejected_reason(appraise(&svc, &f.evidence).await);
        // The denial names the failed check, then the reason.
        assert!(
            reason.contains("snp.crl_revoked: crl: ASK serial "),
            "{reason}"
        );
        assert!(reason.contains("10001 is revoked"), "{reason}");
        assert!(reason.contains("revoked by the ARK's VCEK CRL"), "{reason}");
    }
    // The same CRL with the check off: the evidence verifies.
    let svc = service(f.config(CrlMode::Off, vec![revoking], vec![]))
        .await
        .unwrap();
    appraise(&svc, &f.evidence).await.unwrap();
}

#[tokio::test]
async fn a_vlek_crl_does_not_replace_the_vcek_crl() {
    let f = Fixture::new();
    let vcek = f.crl(
        "vcek.crl",
        &[f.ark.ask_serial()],
        now() - 2 * DAY,
        Some(now() + 6 * DAY),
    );
    // Newer than the VCEK CRL and listing nothing: before the fix it replaced the VCEK CRL of
    // the same ARK and the revoked ASK passed.
    let vlek = f.crl("vlek.crl", &[], now() - DAY, Some(now() + 6 * DAY));
    let svc = service(f.config(CrlMode::FailClosed, vec![vcek], vec![vlek]))
        .await
        .unwrap();
    let reason = rejected_reason(appraise(&svc, &f.evidence).await);
    assert!(reason.contains("ASK serial"), "{reason}");
    // A clean VCEK CRL beside a VLEK CRL listing the ASK's serial: the ASK is not on its list.
    let vcek = f.crl("vcek2.crl", &[], now() - DAY, Some(now() + 6 * DAY));
    let vlek = f.crl(
        "vlek2.crl",
        &[f.ark.ask_serial()],
        now() - DAY,
        Some(now() + 6 * DAY),
    );
    let svc = service(f.config(CrlMode::FailClosed, vec![vcek], vec![vlek]))
        .await
        .unwrap();
    appraise(&svc, &f.evidence).await.unwrap();
}

#[tokio::test]
async fn stale_crl_fail_closed_is_denied_and_fail_open_allowed() {
    let f = Fixture::new();
    let stale = f.crl("stale.crl", &[], now() - 9 * DAY, Some(now() - 2 * DAY));
    let svc = service(f.config(CrlMode::FailClosed, vec![stale.clone()], vec![]))
        .await
        .unwrap();
    let reason = rejected_reason(appraise(&svc, &f.evidence).await);
    assert!(
        reason.contains("snp.crl: crl: the VCEK CRL is stale"),
        "{reason}"
    );
    let svc = service(f.config(CrlMode::FailOpen, vec![stale], vec![]))
        .await
        .unwrap();
    appraise(&svc, &f.evidence).await.unwrap();

    // Maximum age: no nextUpdate, thisUpdate 10 days ago, max 7 days → stale.
    let old = f.crl("old.crl", &[], now() - 10 * DAY, None);
    let mut cfg = f.config(CrlMode::FailClosed, vec![old.clone()], vec![]);
    let svc = service(cfg.clone()).await.unwrap();
    appraise(&svc, &f.evidence).await.unwrap();
    cfg.snp_crl_max_age_secs = Some(7 * 86_400);
    let svc = service(cfg).await.unwrap();
    let reason = rejected_reason(appraise(&svc, &f.evidence).await);
    assert!(reason.contains("maximum CRL age"), "{reason}");
}

#[tokio::test]
async fn missing_crl_fail_open_allowed_fail_closed_denied() {
    let f = Fixture::new();
    let svc = service(f.config(CrlMode::FailOpen, vec![], vec![]))
        .await
        .unwrap();
    appraise(&svc, &f.evidence).await.unwrap();
    // Fail-closed with only a VLEK CRL: nothing vouches for the VCEK path.
    let vlek = f.crl("vlek.crl", &[], now() - DAY, Some(now() + 6 * DAY));
    let svc = service(f.config(CrlMode::FailClosed, vec![], vec![vlek]))
        .await
        .unwrap();
    let reason = rejected_reason(appraise(&svc, &f.evidence).await);
    assert!(reason.contains("snp.crl: crl: unavailable"), "{reason}");
}

fn config_err(r: Result<AttestationService, Error>) -> String {
    match r {
        Err(Error::Config(m)) => m,
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[tokio::test]
async fn crls_that_do_not_verify_refuse_the_start() {
    let f = Fixture::new();
    // Signed by another simulator ARK (same names, other key).
    let other = Fixture::new();
    let foreign = other.crl("foreign.crl", &[], now() - DAY, Some(now() + DAY));
    let m = config_err(service(f.config(CrlMode::FailOpen, vec![foreign], vec![])).await);
    assert!(m.contains("not signed by a trusted ARK"), "{m}");
    // A flipped signature bit.
    let good = f.crl("good.crl", &[], now() - DAY, Some(now() + DAY));
    let mut der = std::fs::read(&good).unwrap();
    let n = der.len();
    der[n - 10] ^= 1;
    let bad = f.dir.path().join("bad.crl");
    std::fs::write(&bad, der).unwrap();
    let m = config_err(service(f.config(CrlMode::FailOpen, vec![], vec![bad])).await);
    assert!(m.contains("VLEK CRL") && m.contains("crl: invalid"), "{m}");
    // Missing file, garbage, and fail-closed without any CRL source.
    let missing = Path::new("/nonexistent/remits.crl").to_path_buf();
    config_err(service(f.config(CrlMode::Off, vec![missing], vec![])).await);
    let garbage = f.dir.path().join("garbage.crl");
    std::fs::write(&garbage, b"not a crl").unwrap();
    config_err(service(f.config(CrlMode::Off, vec![garbage], vec![])).await);
    let m = config_err(service(f.config(CrlMode::FailClosed, vec![], vec![])).await);
    assert!(m.contains("fail-closed"), "{m}");
    // PEM is accepted.
    let pem = f.dir.path().join("good.pem");
    let b64 = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        std::fs::read(&good).unwrap(),
    );
    std::fs::write(
        &pem,
        format!("-----BEGIN X509 CRL-----\n{b64}\n-----END X509 CRL-----\n"),
    )
    .unwrap();
    service(f.config(CrlMode::FailClosed, vec![pem], vec![]))
        .await
        .unwrap();
    // ... also at 64 columns with CRLF line ends. Another label, a second block or a block
    // without its END line is refused, naming the file.
    let der = std::fs::read(&good).unwrap();
    let crlf = f.dir.path().join("crlf.pem");
    let wrapped = remits_codec::pem::encode("X509 CRL", &der);
    std::fs::write(&crlf, wrapped.replace('\n', "\r\n")).unwrap();
    service(f.config(CrlMode::FailClosed, vec![crlf], vec![]))
        .await
        .unwrap();
    for (name, text, want) in [
        (
            "label.pem",
            remits_codec::pem::encode("CERTIFICATE", &der),
            "is not X509 CRL",
        ),
        ("two.pem", format!("{wrapped}{wrapped}"), "more than 1 PEM"),
        (
            "cut.pem",
            wrapped.replace("-----END X509 CRL-----", ""),
            "no -----END X509 CRL----- line",
        ),
    ] {
        let path = f.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let m = config_err(service(f.config(CrlMode::FailClosed, vec![path], vec![])).await);
        assert!(m.contains(name) && m.contains(want), "{m}");
    }
}

#[test]
fn crl_settings_parse_from_toml() {
    let c = ServiceConfig::from_toml(
        r#"
snp_crl_check = "fail-closed"
snp_vcek_crl_files = ["/etc/remits/milan-vcek.crl"]
snp_vlek_crl_files = ["/etc/remits/milan-vlek.crl"]
snp_crl_max_age_secs = 604800
"#,
    )
    .unwrap();
    assert_eq!(c.snp_crl_check, CrlMode::FailClosed);
    assert_eq!(c.snp_crl_max_age_secs, Some(604_800));
    assert_eq!(ServiceConfig::default().snp_crl_check, CrlMode::Off);
    assert!(ServiceConfig::from_toml("snp_crl_check = \"sometimes\"").is_err());
    assert!(ServiceConfig::from_toml("snp_crl_check = \"fail-closed\"").is_err());
    assert!(ServiceConfig::from_toml("snp_crl_refresh_secs = 1").is_err());
    #[cfg(not(feature = "kds"))]
    assert!(ServiceConfig::from_toml("snp_crl_fetch = true").is_err());
}

/// With feature `kds`: the cached KDS CRLs are loaded at start (no network needed); the
/// background fetch of an unreachable KDS changes nothing.
#[cfg(feature = "kds")]
#[tokio::test]
async fn kds_cached_crls_are_loaded_at_start() {
    let f = Fixture::new();
    let cache = f.dir.path().join("kds");
    std::fs::create_dir_all(cache.join("Milan")).unwrap();
    let revoking = f.crl(
        "vcek.crl",
        &[f.ark.ask_serial()],
        now() - DAY,
        Some(now() + 6 * DAY),
    );
    std::fs::copy(&revoking, cache.join("Milan/crl.der")).unwrap();
    let mut cfg = f.config(CrlMode::FailClosed, vec![], vec![]);
    cfg.snp_crl_fetch = true;
    cfg.snp_kds_cache_dir = Some(cache);
    cfg.snp_kds_url = Some("http://127.0.0.1:9".into());
    let svc = service(cfg).await.unwrap();
    let reason = rejected_reason(appraise(&svc, &f.evidence).await);
    assert!(reason.contains("ASK serial"), "{reason}");
}
