//! `remits-verifier tpm-quote | az-snp-vtpm | eventlog`: thin wrappers over `remits_tpm`.
//!
//! Exit status: 0 verified, 1 rejected (including malformed evidence), 2 usage error or an
//! unreadable file. One line on stderr says why.
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use remits_tpm::azure::{verify_az_snp_vtpm, AzSnpVtpmEvidence};
use remits_tpm::{replay, CompareMode, EventLog};
use remits_tpm::{verify_quote, Attest, AttestationKey, HashAlg, NonceCheck, PcrValues, Signature};

use crate::exit;

/// Largest input file read (event logs are tens of KiB; evidence JSON at most 1 MiB).
const MAX_FILE: u64 = 16 << 20;

/// Arguments of `remits-verifier tpm-quote`.
#[derive(clap::Args)]
pub(crate) struct QuoteArgs {
    /// The quote: TPMS_ATTEST as `tpm2_quote -m` writes it (a TPM2B_ATTEST size prefix is
    /// also accepted).
    #[arg(long, value_name = "FILE")]
    attest: PathBuf,
    /// The signature: TPMT_SIGNATURE as `tpm2_quote -s` writes it, or a bare RSA
    /// PKCS#1 v1.5 / SHA-256 signature (Azure vTPM captures).
    #[arg(long, value_name = "FILE")]
    signature: PathBuf,
    /// The trusted attestation key: PEM SubjectPublicKeyInfo (`tpm2_readpublic -f pem`), DER
    /// SubjectPublicKeyInfo, or TPM2B_PUBLIC (`tpm2_createak -u`; then it must be a
    /// restricted signing key and its scheme is enforced).
    #[arg(long, value_name = "FILE")]
    ak: PathBuf,
    /// The quoted PCR values: `tpm2_quote -o` output (`values` or `serialized` format), or
    /// JSON `{"sha256":{"0":"hex",...},...}`.
    #[arg(long, value_name = "FILE")]
    pcrs: PathBuf,
    /// The expected report data: the quote's nonce (extraData, `tpm2_quote -q`), hex.
    /// Without it freshness is NOT checked, and the output says so.
    #[arg(long, value_name = "HEX", alias = "nonce")]
    report_data: Option<String>,
    /// Print the verified quote (fields, key, PCRs per bank) as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Arguments of `remits-verifier az-snp-vtpm`.
#[derive(clap::Args)]
pub(crate) struct AzArgs {
    /// trustee `az-snp-vtpm` evidence JSON (version 0, 1 or 2).
    #[arg(long, value_name = "FILE")]
    evidence: PathBuf,
    /// The expected report data: the quote's nonce (extraData; the KBS runtime-data
    /// digest), hex. Without it freshness is NOT checked, and the output says so.
    #[arg(long, value_name = "HEX", alias = "nonce")]
    report_data: Option<String>,
    /// Verify certificates as of this instant (RFC 3339), instead of now.
    #[arg(long, value_name = "RFC3339")]
    time: Option<String>,
    /// Print the verified claims (SNP, vTPM quote and PCRs, runtime claims) as JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `remits-verifier eventlog`.
#[derive(clap::Args)]
pub(crate) struct EventlogArgs {
    /// A TCG event log (crypto-agile or legacy SHA-1), e.g. a copy of
    /// `/sys/kernel/security/tpm0/binary_bios_measurements`.
    #[arg(long, value_name = "FILE")]
    log: PathBuf,
    /// Quoted PCR values to compare the replay with: JSON `{"sha256":{"0":"hex",...}}`, or
    /// the text `tpm2_pcrread` prints. Every PCR listed must be explained by the log.
    #[arg(long, value_name = "FILE")]
    pcrs: Option<PathBuf>,
    /// Print the replayed PCRs as JSON `{"sha256":{"0":"hex",...}}` (lowercase hex).
    #[arg(long)]
    json: bool,
}

/// A failure with its exit code.
enum Fail {
    Usage(String),
    Rejected(String),
}

impl From<remits_tpm::Error> for Fail {
    fn from(e: remits_tpm::Error) -> Self {
        Fail::Rejected(e.to_string())
    }
}

fn finish(r: Result<String, Fail>) -> ExitCode {
    match r {
        Ok(out) => {
            remits_serve::outln!("{out}");
            exit::OK
        }
        Err(Fail::Usage(m)) => exit::usage(m),
        Err(Fail::Rejected(m)) => exit::rejected(m),
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, Fail> {
    remits_evidence::input::read_capped(path, MAX_FILE, what)
        .map_err(|e| Fail::Usage(e.to_string()))
}

/// What each file flag must hold, for the error messages.
const EXPECT_ATTEST: &str = "TPMS_ATTEST as `tpm2_quote -m` writes it";
const EXPECT_SIG: &str = "TPMT_SIGNATURE as `tpm2_quote -s` writes it, or a bare RSA signature";
const EXPECT_AK: &str = "the attestation key: PEM or DER SubjectPublicKeyInfo, or TPM2B_PUBLIC";
const EXPECT_PCRS: &str = "`tpm2_quote -o` output or JSON {\"sha256\":{\"0\":\"hex\",...}}";
const EXPECT_PCRREAD: &str = "JSON {\"sha256\":{\"0\":\"hex\",...}} or `tpm2_pcrread` text";
const EXPECT_LOG: &str = "a TCG event log (binary_bios_measurements)";
const EXPECT_AZ: &str = "trustee az-snp-vtpm evidence JSON (version 0, 1 or 2)";

/// A parse failure of one input file: `--flag PATH: error (expected ...)`, exit 1.
fn in_file<T>(
    r: Result<T, remits_tpm::Error>,
    flag: &str,
    path: &Path,
    expected: &str,
) -> Result<T, Fail> {
    r.map_err(|e| {
        Fail::Rejected(format!(
            "{flag} {}: {e} (expected {expected})",
            path.display()
        ))
    })
}

fn parse_hex(s: &str, what: &str) -> Result<Vec<u8>, Fail> {
    let s = s.trim();
    let s = s.strip_prefix("0x").unwrap_or(s);
    hex::decode(s).map_err(|e| Fail::Usage(format!("--{what}: not hex: {e}")))
}

fn to_json(r: serde_json::Result<String>) -> Result<String, Fail> {
    r.map_err(|e| Fail::Usage(format!("cannot encode JSON: {e}")))
}

fn looks_like_json(b: &[u8]) -> bool {
    b.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'{')
}

/// TPMS_ATTEST, or a TPM2B_ATTEST whose size prefix covers exactly the rest.
fn attest_bytes(raw: &[u8]) -> &[u8] {
    const MAGIC: [u8; 4] = remits_tpm::TPM_GENERATED_VALUE.to_be_bytes();
    match raw {
        [a, b, rest @ ..]
            if !raw.starts_with(&MAGIC)
                && usize::from(u16::from_be_bytes([*a, *b])) == rest.len()
                && rest.starts_with(&MAGIC) =>
        {
            rest
        }
        _ => raw,
    }
}

/// TPMT_SIGNATURE, or a bare modulus-sized RSA signature taken as RSASSA / SHA-256.
fn signature(raw: &[u8], path: &Path) -> Result<Signature, Fail> {
    match Signature::parse(raw) {
        Ok(s) => Ok(s),
        Err(_) if matches!(raw.len(), 256 | 384 | 512) => {
            Ok(Signature::rsassa_raw(HashAlg::Sha256, raw))
        }
        Err(e) => Err(Fail::Rejected(format!(
            "--signature {}: signature: {e} (expected {EXPECT_SIG})",
            path.display()
        ))),
    }
}

/// PCR values for a quote: JSON, tpm2-tools `serialized`, or `values` split by the quote's
/// selection (the digest check then binds each value to its position).
fn quote_pcrs(
    raw: &[u8],
    path: &Path,
    attest: &[u8],
    attest_path: &Path,
) -> Result<PcrValues, Fail> {
    if looks_like_json(raw) {
        return in_file(PcrValues::from_json(raw), "--pcrs", path, EXPECT_PCRS);
    }
    if let Ok((_, v)) = PcrValues::from_tpm2_serialized(raw) {
        return Ok(v);
    }
    let q = in_file(
        Attest::parse(attest),
        "--attest",
        attest_path,
        EXPECT_ATTEST,
    )?;
    PcrValues::from_tpm2_values(raw, q.selection()).map_err(|e| {
        Fail::Rejected(format!(
            "--pcrs {}: PCR file is neither JSON, tpm2-tools serialized, nor values for {}: {e}",
            path.display(),
            q.selection()
        ))
    })
}

fn nonce_check(nonce: &Option<Vec<u8>>) -> NonceCheck<'_> {
    match nonce {
        Some(n) => NonceCheck::Expected(n),
        None => NonceCheck::Unchecked,
    }
}

fn quote_inner(a: QuoteArgs) -> Result<String, Fail> {
    let nonce = a
        .report_data
        .as_deref()
        .map(|s| parse_hex(s, "report-data"))
        .transpose()?;
    let attest_raw = read(&a.attest, "--attest")?;
    let sig_raw = read(&a.signature, "--signature")?;
    let ak_raw = read(&a.ak, "--ak")?;
    let pcrs_raw = read(&a.pcrs, "--pcrs")?;

    let ak = in_file(AttestationKey::from_any(&ak_raw), "--ak", &a.ak, EXPECT_AK)?;
    let sig = signature(&sig_raw, &a.signature)?;
    let attest = attest_bytes(&attest_raw);
    let pcrs = quote_pcrs(&pcrs_raw, &a.pcrs, attest, &a.attest)?;
    let q = verify_quote(attest, &sig, &ak, &pcrs, nonce_check(&nonce))?;
    if a.json {
        return to_json(serde_json::to_string_pretty(&q));
    }
    Ok(format!(
        "verified: TPM quote, {} under a {} key, PCRs {}, {}",
        q.signature_scheme(),
        q.ak().key_type,
        q.quote().pcr_select,
        if q.nonce_checked() {
            format!("nonce {}", q.quote().extra_data)
        } else {
            format!("nonce NOT checked (extraData {})", q.quote().extra_data)
        }
    ))
}

fn az_inner(a: AzArgs) -> Result<String, Fail> {
    let nonce = a
        .report_data
        .as_deref()
        .map(|s| parse_hex(s, "report-data"))
        .transpose()?;
    let time = match &a.time {
        Some(t) => time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map(SystemTime::from)
            .map_err(|e| Fail::Usage(format!("--time {t:?}: not RFC 3339: {e}")))?,
        None => SystemTime::now(),
    };
    let raw = read(&a.evidence, "--evidence")?;
    let evidence = in_file(
        AzSnpVtpmEvidence::from_json(&raw),
        "--evidence",
        &a.evidence,
        EXPECT_AZ,
    )?;
    let snp = remits_snp::Verifier::new(remits_snp::TrustAnchors::amd());
    let opts = remits_snp::VerifyOptions::at(time);
    let c = verify_az_snp_vtpm(&evidence, &snp, &opts, nonce_check(&nonce))?;
    if a.json {
        return to_json(serde_json::to_string_pretty(&c));
    }
    let vm = c
        .runtime_claims()
        .vm_configuration
        .get("vmUniqueId")
        .and_then(|v| v.as_str())
        .unwrap_or("-")
        .to_owned();
    Ok(format!(
        "verified: Azure SNP vTPM evidence v{}, {} report v{} at VMPL {}, vmUniqueId {vm}, measurement {}, {}",
        c.evidence_version(),
        c.snp().generation,
        c.snp().version,
        c.snp().vmpl,
        hex::encode(&c.snp().measurement),
        if c.tpm().nonce_checked() {
            format!("nonce {}", c.report_data())
        } else {
            format!("nonce NOT checked (extraData {})", c.report_data())
        }
    ))
}

fn eventlog_inner(a: EventlogArgs) -> Result<String, Fail> {
    let raw = read(&a.log, "--log")?;
    let quoted = match a.pcrs.as_deref() {
        Some(p) => {
            let b = read(p, "--pcrs")?;
            Some(if looks_like_json(&b) {
                in_file(PcrValues::from_json(&b), "--pcrs", p, EXPECT_PCRREAD)?
            } else {
                let text = std::str::from_utf8(&b).map_err(|_| {
                    Fail::Rejected(format!(
                        "--pcrs {}: PCR values: not text (expected {EXPECT_PCRREAD})",
                        p.display()
                    ))
                })?;
                in_file(
                    PcrValues::from_tpm2_pcrread(text),
                    "--pcrs",
                    p,
                    EXPECT_PCRREAD,
                )?
            })
        }
        None => None,
    };
    let log = in_file(EventLog::parse(&raw), "--log", &a.log, EXPECT_LOG)?;
    let r = replay(&log)?;
    if let Some(q) = &quoted {
        r.compare(q, CompareMode::AllQuoted)?;
    }
    if a.json {
        return to_json(serde_json::to_string_pretty(r.pcrs()));
    }
    let mut out = String::new();
    for (bank, pcrs) in r.pcrs().banks() {
        out.push_str(bank.name());
        out.push_str(":\n");
        for (i, v) in pcrs {
            out.push_str(&format!("  {i:>2}: {}\n", hex::encode(v)));
        }
    }
    out.push_str(&format!(
        "{} events replayed{}",
        log.events().len(),
        match &quoted {
            Some(q) => format!("; the replay matches every quoted PCR ({})", q.selection()),
            None => String::new(),
        }
    ));
    Ok(out)
}

/// `remits-verifier tpm-quote`.
pub(crate) fn run_quote(a: QuoteArgs) -> ExitCode {
    finish(quote_inner(a))
}

/// `remits-verifier az-snp-vtpm`.
pub(crate) fn run_az(a: AzArgs) -> ExitCode {
    finish(az_inner(a))
}

/// `remits-verifier eventlog`.
pub(crate) fn run_eventlog(a: EventlogArgs) -> ExitCode {
    finish(eventlog_inner(a))
}
