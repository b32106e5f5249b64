//! `remits-verifier snp`: verify a raw SEV-SNP report against AMD's endorsement chain.
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use remits_snp::cert::{der_or_pem, pem_bundle_to_der};
use remits_snp::kds::{Kds, KdsConfig};
use remits_snp::{
    CrlCheck, CrlKind, Endorsement, Generation, TrustAnchors, Verifier, VerifyOptions,
};

use crate::exit;

/// Arguments of `remits-verifier snp`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The attestation report: 1184 raw bytes, or a file of hex text.
    #[arg(long, value_name = "FILE")]
    report: PathBuf,
    /// The VCEK or VLEK that signed the report (DER or PEM).
    #[arg(long, value_name = "FILE")]
    vcek: Option<PathBuf>,
    /// Without --vcek: look the VCEK (and, without --chain, the CA chain) up in this directory
    /// of certificates in the KDS cache layout (offline: nothing is fetched).
    #[arg(long, value_name = "DIR")]
    certs_dir: Option<PathBuf>,
    /// AMD's CRL (DER) of the chain's ARK for the report's path (the VCEK CRL for a VCEK-signed
    /// report, the VLEK CRL for a VLEK-signed one): verified with the ARK, must be current, and
    /// the ASK/ASVK must not be listed.
    #[arg(long, value_name = "FILE")]
    crl: Option<PathBuf>,
    /// PEM bundle of the ASK/ASVK and ARK (AMD's built-in certificates when absent).
    #[arg(long, value_name = "FILE")]
    chain: Option<PathBuf>,
    /// Trust this extra SNP root (ARK, DER or PEM), e.g. the remits simulator's; AMD's stay
    /// trusted. Repeatable.
    #[arg(long, value_name = "FILE", alias = "ark")]
    trust_ark: Vec<PathBuf>,
    /// The CPU generation (otherwise from the report's CPUID and the certificate).
    #[arg(long, value_name = "milan|genoa|turin")]
    generation: Option<Generation>,
    /// Verify as of this instant (RFC 3339), instead of now.
    #[arg(long, value_name = "RFC3339")]
    time: Option<String>,
    /// Expected REPORT_DATA (hex, up to 64 bytes, zero-padded; compared in full).
    #[arg(long, value_name = "HEX")]
    report_data: Option<String>,
    /// Expected HOST_DATA (hex, up to 32 bytes, zero-padded; compared in full).
    #[arg(long, value_name = "HEX")]
    host_data: Option<String>,
    /// Print the verified claims as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// A failure with its exit code.
enum Fail {
    Usage(String),
    Rejected(String),
}

/// What each file flag must hold, for the error messages.
const EXPECT_REPORT: &str = "an SNP attestation report: 1184 raw bytes or their hex text";
const EXPECT_VCEK: &str =
    "the VCEK or VLEK that signed the report: one X.509 certificate, DER or PEM";
const EXPECT_CHAIN: &str = "a PEM bundle of the ASK (or ASVK) and the ARK";
pub(crate) const EXPECT_ARK: &str =
    "an AMD root key certificate (ARK-Milan/Genoa/Turin), DER or PEM";
const EXPECT_CRL: &str = "AMD's CRL (DER) for the report's ARK";

/// `--flag PATH: what went wrong (expected ...)`. A file that does not parse as a certificate
/// says "not a certificate" (the file is named; its role is what the flag expects).
pub(crate) fn file_err(flag: &str, path: &Path, expected: &str, e: &remits_snp::Error) -> String {
    let what = match e {
        remits_snp::Error::CertParse { reason, .. } => format!("not a certificate: {reason}"),
        other => other.to_string(),
    };
    format!("{flag} {}: {what} (expected {expected})", path.display())
}

/// Every certificate of a file parses as X.509 (its profile is checked with the chain).
fn parse_certs(ders: &[Vec<u8>], flag: &str, path: &Path, expected: &str) -> Result<(), Fail> {
    for der in ders {
        remits_snp::cert::AmdCert::from_der(der, remits_snp::CertRole::Unknown)
            .map_err(|e| Fail::Rejected(file_err(flag, path, expected, &e)))?;
    }
    Ok(())
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, Fail> {
    use remits_evidence::input::{read_capped, MAX_INPUT_FILE};
    read_capped(path, MAX_INPUT_FILE, what).map_err(|e| Fail::Usage(e.to_string()))
}

fn parse_hex(s: &str, what: &str) -> Result<Vec<u8>, Fail> {
    let s = s.trim();
    let s = s.strip_prefix("0x").unwrap_or(s);
    hex::decode(s).map_err(|e| Fail::Usage(format!("--{what}: not hex: {e}")))
}

/// Raw 1184 bytes, or hex text (whitespace ignored) that decodes to them. Evidence JSON (what
/// an attester sends) is a usage error that points at `remits-verifier verify`.
fn report_bytes(raw: Vec<u8>, path: &Path) -> Result<Vec<u8>, Fail> {
    if raw.len() == remits_snp::report::REPORT_LEN {
        return Ok(raw);
    }
    let at = path.display();
    if raw.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'{') {
        return Err(Fail::Usage(format!(
            "--report {at}: this is JSON, not a raw SNP report (expected {EXPECT_REPORT}); \
             for attestation evidence JSON use `remits-verifier verify --tee snp --evidence {at}`"
        )));
    }
    let text: String = match std::str::from_utf8(&raw) {
        Ok(t) => t.chars().filter(|c| !c.is_ascii_whitespace()).collect(),
        Err(_) => {
            return Err(Fail::Rejected(format!(
                "--report {at}: report length: got {} bytes (expected {EXPECT_REPORT})",
                raw.len()
            )))
        }
    };
    let text = text.strip_prefix("0x").unwrap_or(&text);
    hex::decode(text).map_err(|e| {
        Fail::Rejected(format!(
            "--report {at}: neither 1184 raw bytes nor hex text: {e} (expected {EXPECT_REPORT})"
        ))
    })
}

fn run_inner(a: Args) -> Result<String, Fail> {
    let time = match &a.time {
        Some(t) => time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map(SystemTime::from)
            .map_err(|e| Fail::Usage(format!("--time {t:?}: not RFC 3339: {e}")))?,
        None => SystemTime::now(),
    };
    let report_data = a
        .report_data
        .as_deref()
        .map(|s| parse_hex(s, "report-data"))
        .transpose()?;
    let host_data = a
        .host_data
        .as_deref()
        .map(|s| parse_hex(s, "host-data"))
        .transpose()?;
    let report = report_bytes(read(&a.report, "--report")?, &a.report)?;
    let chain = match a.chain.as_deref() {
        Some(p) => {
            let bytes = read(p, "--chain")?;
            let bad = |what: &str| {
                Fail::Rejected(format!(
                    "--chain {}: {what} (expected {EXPECT_CHAIN})",
                    p.display()
                ))
            };
            let text = String::from_utf8(bytes).map_err(|_| bad("not PEM text"))?;
            let certs = pem_bundle_to_der(&text)
                .map_err(|e| Fail::Rejected(file_err("--chain", p, EXPECT_CHAIN, &e)))?;
            if certs.is_empty() {
                return Err(bad("no PEM certificate found"));
            }
            parse_certs(&certs, "--chain", p, EXPECT_CHAIN)?;
            certs
        }
        None => Vec::new(),
    };
    let (leaf, chain) = match (a.vcek.as_deref(), a.certs_dir.as_deref()) {
        (Some(vcek_path), _) => {
            let leaf = der_or_pem(&read(vcek_path, "--vcek")?)
                .map_err(|e| Fail::Rejected(file_err("--vcek", vcek_path, EXPECT_VCEK, &e)))?;
            parse_certs(
                std::slice::from_ref(&leaf),
                "--vcek",
                vcek_path,
                EXPECT_VCEK,
            )?;
            (leaf, chain)
        }
        (None, Some(dir)) => {
            if !dir.is_dir() {
                return Err(Fail::Usage(format!(
                    "--certs-dir {}: not a directory",
                    dir.display()
                )));
            }
            let kds = Kds::new(KdsConfig::offline(dir)).map_err(|e| Fail::Usage(e.to_string()))?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .map_err(|e| Fail::Usage(format!("runtime: {e}")))?;
            let e = rt
                .block_on(async {
                    if chain.is_empty() {
                        kds.endorsement(&report, a.generation).await
                    } else {
                        let leaf = kds.vcek_for_report(&report, a.generation).await?;
                        Ok(Endorsement { leaf, chain })
                    }
                })
                .map_err(|e| Fail::Rejected(e.to_string()))?;
            (e.leaf, e.chain)
        }
        (None, None) => return Err(Fail::Usage(
            "--vcek FILE or --certs-dir DIR is required (the VCEK or VLEK that signed the report)"
                .into(),
        )),
    };
    let mut anchors = TrustAnchors::amd();
    for p in &a.trust_ark {
        anchors = anchors
            .with_ark(&read(p, "--trust-ark")?)
            .map_err(|e| Fail::Rejected(file_err("--trust-ark", p, EXPECT_ARK, &e)))?;
    }
    let mut opts = VerifyOptions::at(time);
    opts.generation = a.generation;
    opts.expected_report_data = report_data;
    opts.expected_host_data = host_data;

    let verifier = Verifier::new(anchors);
    if let Some(p) = a.crl.as_deref() {
        // The CRL of the report's path: the VCEK CRL for a VCEK-signed report, else the VLEK CRL.
        let kind = match remits_snp::Report::parse(&report)
            .and_then(|r| r.key_info().signer())
            .map_err(|e| Fail::Rejected(e.to_string()))?
        {
            remits_snp::Signer::Vcek => CrlKind::Vcek,
            remits_snp::Signer::Vlek => CrlKind::Vlek,
        };
        verifier
            .add_crl(&read(p, "--crl")?, kind, time)
            .map_err(|e| Fail::Rejected(file_err("--crl", p, EXPECT_CRL, &e)))?;
        opts.check_crl = CrlCheck::FailClosed;
    }
    let verified = verifier
        .verify(&report, &Endorsement { leaf, chain }, &opts)
        .map_err(|e| Fail::Rejected(e.to_string()))?;
    let c = verified.claims();
    if a.json {
        serde_json::to_string_pretty(c)
            .map_err(|e| Fail::Usage(format!("cannot encode claims: {e}")))
    } else {
        Ok(format!(
            "verified: {} report v{} signed by {} ({}), vmpl {}, measurement {}",
            c.generation,
            c.version,
            c.signer,
            if verified.amd_root() {
                "AMD root"
            } else {
                "explicit trust anchor"
            },
            c.vmpl,
            hex::encode(&c.measurement)
        ))
    }
}

pub(crate) fn run(a: Args) -> ExitCode {
    match run_inner(a) {
        Ok(out) => {
            remits_serve::outln!("{out}");
            exit::OK
        }
        Err(Fail::Usage(m)) => exit::usage(m),
        Err(Fail::Rejected(m)) => exit::rejected(m),
    }
}
