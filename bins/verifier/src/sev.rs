//! `remits-verifier sev-*`: SEV/SEV-ES pre-launch attestation as the guest owner (thin layer
//! over `remits-sev`). File conventions follow sevctl: base64 `<name>_godh.b64` and
//! `<name>_session.b64` for QEMU, raw `<name>_tek.bin` / `<name>_tik.bin` (mode 0600).
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine;
use remits_sev::{
    AmdRoots, Generation, LaunchMeasurement, LaunchPolicy, PlatformBuild, PlatformChain,
    RootChoice, TransportKeys, VerifiedPlatform,
};
use zeroize::Zeroizing;

use crate::exit;

/// Where the platform chain comes from and which roots it must chain to.
#[derive(clap::Args)]
pub(crate) struct ChainArgs {
    /// The platform chain in `sevctl export` form (PDH ‖ PEK ‖ OCA ‖ CEK).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["cek", "oca", "pek", "pdh"])]
    chain: Option<PathBuf>,
    /// CEK certificate (with --oca, --pek, --pdh instead of --chain).
    #[arg(long, value_name = "FILE", requires_all = ["oca", "pek", "pdh"])]
    cek: Option<PathBuf>,
    /// OCA certificate.
    #[arg(long, value_name = "FILE")]
    oca: Option<PathBuf>,
    /// PEK certificate.
    #[arg(long, value_name = "FILE")]
    pek: Option<PathBuf>,
    /// PDH certificate.
    #[arg(long, value_name = "FILE")]
    pdh: Option<PathBuf>,
    /// The platform's generation; otherwise every built-in AMD ASK is tried.
    #[arg(long, value_name = "naples|rome|milan|genoa|turin", value_parser = parse_generation)]
    generation: Option<Generation>,
    /// Trust this ARK (AMD certificate format) instead of AMD's built-in roots — for a test
    /// or simulated platform only. Requires --ask.
    #[arg(
        long = "trust-ark",
        alias = "ark",
        value_name = "FILE",
        requires = "ask"
    )]
    ark: Option<PathBuf>,
    /// The ASK signed by --trust-ark.
    #[arg(long, value_name = "FILE", requires = "ark")]
    ask: Option<PathBuf>,
}

fn parse_generation(s: &str) -> Result<Generation, String> {
    Generation::from_name(s).ok_or_else(|| format!("unknown generation {s:?}"))
}

/// Arguments of `sev-chain`.
#[derive(clap::Args)]
pub(crate) struct ChainCmd {
    #[command(flatten)]
    chain: ChainArgs,
}

/// Arguments of `sev-session`.
#[derive(clap::Args)]
pub(crate) struct SessionCmd {
    #[command(flatten)]
    chain: ChainArgs,
    /// Guest policy (hex `0x…` or decimal), e.g. 0x7 = no debug, no key sharing, SEV-ES.
    #[arg(long, value_parser = parse_u32)]
    policy: u32,
    /// Name prefix of the files written (`<name>_godh.b64`, `<name>_session.b64`,
    /// `<name>_tek.bin`, `<name>_tik.bin`).
    #[arg(long, default_value = "vm")]
    name: String,
    /// Directory for the files (must exist).
    #[arg(long, default_value = ".")]
    out_dir: PathBuf,
}

/// The launch the platform reported, common to `sev-measurement` and `sev-secret`.
#[derive(clap::Args)]
pub(crate) struct MeasureArgs {
    /// The TIK written by sev-session.
    #[arg(long, value_name = "FILE")]
    tik: PathBuf,
    /// QEMU's `query-sev-launch-measure` `data`: base64 of MEASURE ‖ MNONCE.
    #[arg(long, value_name = "BASE64")]
    measurement: String,
    /// Platform firmware API major version (`query-sev` `api-major`).
    #[arg(long)]
    api_major: u8,
    /// Platform firmware API minor version (`api-minor`).
    #[arg(long)]
    api_minor: u8,
    /// Platform firmware build id (`build-id`).
    #[arg(long)]
    build_id: u8,
    /// The guest policy the session was started with.
    #[arg(long, value_parser = parse_u32)]
    policy: u32,
    /// Expected launch digest (hex SHA-256), e.g. from `remits-measure snp --mode sev|seves`.
    #[arg(long, value_name = "HEX")]
    digest: String,
}

/// Arguments of `sev-measurement`.
#[derive(clap::Args)]
pub(crate) struct MeasurementCmd {
    #[command(flatten)]
    launch: MeasureArgs,
}

/// Arguments of `sev-secret`.
#[derive(clap::Args)]
pub(crate) struct SecretCmd {
    #[command(flatten)]
    launch: MeasureArgs,
    /// The TEK written by sev-session.
    #[arg(long, value_name = "FILE")]
    tek: PathBuf,
    /// A secret for the table: `GUID=FILE` (repeatable).
    #[arg(long = "secret", value_name = "GUID=FILE", required = true)]
    secrets: Vec<String>,
    /// Write the base64 packet header (QMP `packet-header`) here.
    #[arg(long, value_name = "FILE")]
    out_header: PathBuf,
    /// Write the base64 encrypted secret (QMP `secret`) here.
    #[arg(long, value_name = "FILE")]
    out_secret: PathBuf,
}

fn parse_u32(s: &str) -> Result<u32, String> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    }
    .map_err(|e| format!("{s:?}: {e}"))
}

enum Fail {
    Usage(String),
    Rejected(String),
}

impl From<Fail> for ExitCode {
    fn from(f: Fail) -> ExitCode {
        match f {
            Fail::Usage(m) => exit::usage(m),
            Fail::Rejected(m) => exit::rejected(m),
        }
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, Fail> {
    use remits_evidence::input::read_capped;
    // SEV certificates are 0x824 bytes; the exported chain four of them.
    read_capped(path, 64 * 1024, what).map_err(|e| Fail::Usage(e.to_string()))
}

fn load_chain(a: &ChainArgs) -> Result<PlatformChain, Fail> {
    if let Some(p) = &a.chain {
        return PlatformChain::from_sevctl_export(&read(p, "--chain")?).map_err(|e| {
            Fail::Rejected(format!(
                "--chain {}: {e} (expected `sevctl export` output: PDH, PEK, OCA, CEK)",
                p.display()
            ))
        });
    }
    match (&a.cek, &a.oca, &a.pek, &a.pdh) {
        (Some(cek), Some(oca), Some(pek), Some(pdh)) => Ok(PlatformChain {
            cek: read(cek, "--cek")?,
            oca: read(oca, "--oca")?,
            pek: read(pek, "--pek")?,
            pdh: read(pdh, "--pdh")?,
        }),
        _ => Err(Fail::Usage(
            "give the platform chain as --chain FILE or --cek/--oca/--pek/--pdh".into(),
        )),
    }
}

fn verify_chain(a: &ChainArgs) -> Result<VerifiedPlatform, Fail> {
    let chain = load_chain(a)?;
    let rejected = |e: remits_sev::Error| Fail::Rejected(e.to_string());
    match (&a.ark, &a.ask) {
        (Some(ark_path), Some(ask_path)) => {
            let (ark, ask) = (read(ark_path, "--trust-ark")?, read(ask_path, "--ask")?);
            let roots = AmdRoots::verify(&ark, &ask, a.generation).map_err(|e| {
                Fail::Rejected(format!(
                    "--trust-ark {} / --ask {}: {e} (expected an ARK and the ASK it signed, \
                     AMD SEV certificate format)",
                    ark_path.display(),
                    ask_path.display()
                ))
            })?;
            chain.verify_with_roots(&roots).map_err(rejected)
        }
        _ => chain
            .verify(match a.generation {
                Some(g) => RootChoice::Generation(g),
                None => RootChoice::AnyGeneration,
            })
            .map_err(rejected),
    }
}

fn describe(p: &VerifiedPlatform, custom: bool) -> String {
    let gen = p.generation().map(|g| g.name()).unwrap_or("unnamed");
    let roots = if custom {
        "the given ARK/ASK (not AMD's)"
    } else {
        "AMD's pinned ARK/ASK"
    };
    format!(
        "SEV platform chain verified: {gen}, ARK → ASK → CEK → PEK ← OCA, PEK → PDH under {roots}"
    )
}

/// `sev-chain`.
pub(crate) fn run_chain(a: ChainCmd) -> ExitCode {
    match verify_chain(&a.chain) {
        Ok(p) => {
            println!("{}", describe(&p, a.chain.ark.is_some()));
            exit::OK
        }
        Err(f) => f.into(),
    }
}

/// Writes `bytes` to a new file of mode 0600 (refusing to overwrite).
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), Fail> {
    remits_evidence::output::write_new(path, bytes, 0o600)
        .map_err(|e| Fail::Usage(format!("{}: {e}", path.display())))
}

/// `sev-session`.
pub(crate) fn run_session(a: SessionCmd) -> ExitCode {
    let r = (|| -> Result<(), Fail> {
        if a.name.is_empty() || a.name.contains('/') {
            return Err(Fail::Usage(
                "--name must be a plain file-name prefix".into(),
            ));
        }
        let platform = verify_chain(&a.chain)?;
        let (start, keys) =
            remits_sev::start_session(&platform, LaunchPolicy(a.policy), &mut rand::rngs::OsRng)
                .map_err(|e| Fail::Usage(e.to_string()))?;
        let f = |s: &str| a.out_dir.join(format!("{}_{s}", a.name));
        write_new(&f("godh.b64"), start.godh_b64().as_bytes())?;
        write_new(&f("session.b64"), start.session_b64().as_bytes())?;
        let tk = keys.to_bytes();
        let (tek, tik) = tk
            .split_at_checked(16)
            .ok_or_else(|| Fail::Usage("transport keys: shorter than TEK + TIK".into()))?;
        write_new(&f("tek.bin"), tek)?;
        write_new(&f("tik.bin"), tik)?;
        println!(
            "{}; session written: {} and {} (QEMU sev-guest dh-cert-file / session-file, policy={:#x}); keep {} and {} secret",
            describe(&platform, a.chain.ark.is_some()),
            f("godh.b64").display(),
            f("session.b64").display(),
            a.policy,
            f("tek.bin").display(),
            f("tik.bin").display()
        );
        Ok(())
    })();
    match r {
        Ok(()) => exit::OK,
        Err(f) => f.into(),
    }
}

fn read_key(path: &Path, what: &str) -> Result<Zeroizing<Vec<u8>>, Fail> {
    let k = Zeroizing::new(read(path, what)?);
    if k.len() != 16 {
        return Err(Fail::Usage(format!(
            "{what}: {} bytes, a transport key is 16",
            k.len()
        )));
    }
    Ok(k)
}

fn verified_launch(
    l: &MeasureArgs,
    tek: Option<&Path>,
) -> Result<remits_sev::VerifiedLaunch, Fail> {
    let tik = read_key(&l.tik, "--tik")?;
    // The TEK is not needed to check a measurement; any 16 bytes stand in for it then.
    let tek = match tek {
        Some(p) => read_key(p, "--tek")?,
        None => Zeroizing::new(vec![0u8; 16]),
    };
    let keys = TransportKeys::from_bytes(&[&tek[..], &tik[..]].concat())
        .map_err(|e| Fail::Usage(e.to_string()))?;
    let m = LaunchMeasurement::from_b64(&l.measurement)
        .map_err(|e| Fail::Usage(format!("--measurement: {e}")))?;
    let d = l.digest.trim();
    let d = d.strip_prefix("0x").unwrap_or(d);
    let digest: [u8; 32] = hex::decode(d)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| Fail::Usage("--digest: expected 64 hex digits (SHA-256)".into()))?;
    let build = PlatformBuild {
        api_major: l.api_major,
        api_minor: l.api_minor,
        build: l.build_id,
    };
    remits_sev::verify_measurement(&keys, build, LaunchPolicy(l.policy), &digest, &m)
        .map_err(|e| Fail::Rejected(e.to_string()))
}

/// `sev-measurement`.
pub(crate) fn run_measurement(a: MeasurementCmd) -> ExitCode {
    match verified_launch(&a.launch, None) {
        Ok(v) => {
            println!(
                "launch measurement verified: digest {}, policy {:#x}, API {}.{} build {}",
                hex::encode(v.digest()),
                v.policy().0,
                v.build().api_major,
                v.build().api_minor,
                v.build().build
            );
            exit::OK
        }
        Err(f) => f.into(),
    }
}

/// `sev-secret`.
pub(crate) fn run_secret(a: SecretCmd) -> ExitCode {
    let r = (|| -> Result<(), Fail> {
        // The measurement is checked first: no packet without a verified launch.
        let v = verified_launch(&a.launch, Some(&a.tek))?;
        let mut values = Vec::new();
        for s in &a.secrets {
            let (guid, file) = s
                .split_once('=')
                .ok_or_else(|| Fail::Usage(format!("--secret {s:?}: expected GUID=FILE")))?;
            values.push((
                guid.to_string(),
                Zeroizing::new(read(Path::new(file), "--secret")?),
            ));
        }
        let refs: Vec<(&str, &[u8])> = values.iter().map(|(g, v)| (g.as_str(), &v[..])).collect();
        let table =
            remits_sev::table::build_secret_table(&refs, remits_sev::table::DEFAULT_MAX_TABLE_LEN)
                .map_err(|e| Fail::Usage(e.to_string()))?;
        let p = v
            .secret_packet(&table, &mut rand::rngs::OsRng)
            .map_err(|e| Fail::Usage(e.to_string()))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        write_new(&a.out_header, b64.encode(p.header).as_bytes())?;
        write_new(&a.out_secret, b64.encode(&p.ciphertext).as_bytes())?;
        println!(
            "launch measurement verified; secret packet written ({} secret(s), {} bytes): QMP sev-inject-launch-secret packet-header={} secret={}",
            refs.len(),
            p.ciphertext.len(),
            a.out_header.display(),
            a.out_secret.display()
        );
        Ok(())
    })();
    match r {
        Ok(()) => exit::OK,
        Err(f) => f.into(),
    }
}
