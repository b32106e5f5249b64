//! `remits-measure snp`: a drop-in for `sev-snp-measure` (same option names, meanings, output
//! line and error texts). Exit codes as sev-snp-measure's: 0 ok; 1 the inputs cannot be read
//! or measured (one `Error: ...` line); 2 usage error (argparse's `parser.error`). Started
//! under the name `sev-snp-measure` (a symlink), `remits-measure` behaves as this subcommand.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::builder::PossibleValuesParser;
use clap::error::ErrorKind;
use clap::CommandFactory;
use remits_measure::launch::{
    self, cpu_sig, vcpu_type_sig, Error, ImageFile, LaunchInputs, Mode, SevHashes, VmmType,
    VCPU_TYPES,
};

/// Arguments of `remits-measure snp` (sev-snp-measure's options).
#[derive(clap::Args)]
#[command(
    infer_long_args = true,
    args_override_self = true,
    allow_negative_numbers = true,
    version = VERSION,
    display_name = "sev-snp-measure",
    about = "Calculate AMD SEV/SEV-ES/SEV-SNP guest launch measurement"
)]
pub(crate) struct Args {
    #[arg(short, long)]
    verbose: bool,
    /// Guest mode
    #[arg(long, required = true,
          value_parser = ["sev", "seves", "snp", "snp:ovmf-hash", "snp:svsm"])]
    mode: String,
    /// Number of guest vcpus
    #[arg(long, value_name = "N")]
    vcpus: Option<i64>,
    /// Type of guest vcpu (EPYC, EPYC-v1, ..., EPYC-Genoa, EPYC-Turin)
    #[arg(long, value_name = "CPUTYPE",
          value_parser = PossibleValuesParser::new(VCPU_TYPES.iter().map(|t| t.0)))]
    vcpu_type: Option<String>,
    /// Guest vcpu signature value
    #[arg(long, value_name = "VALUE", value_parser = parse_auto_u32)]
    vcpu_sig: Option<u32>,
    /// Guest vcpu family
    #[arg(long, value_name = "FAMILY")]
    vcpu_family: Option<u32>,
    /// Guest vcpu model
    #[arg(long, value_name = "MODEL")]
    vcpu_model: Option<u32>,
    /// Guest vcpu stepping
    #[arg(long, value_name = "STEPPING")]
    vcpu_stepping: Option<u32>,
    /// Type of guest vmm (QEMU, ec2, gce)
    #[arg(long, value_name = "VMMTYPE", default_value = "QEMU")]
    vmm_type: String,
    /// OVMF file to calculate hash from
    #[arg(long, value_name = "PATH", required = true, value_parser = path_arg())]
    ovmf: PathBuf,
    /// Kernel file to calculate hash from
    #[arg(long, value_name = "PATH", value_parser = path_arg())]
    kernel: Option<PathBuf>,
    /// Initrd file to calculate hash from (use with --kernel)
    #[arg(long, value_name = "PATH", value_parser = path_arg())]
    initrd: Option<PathBuf>,
    /// Kernel command line to calculate hash from (use with --kernel)
    #[arg(long, value_name = "CMDLINE")]
    append: Option<String>,
    /// Hex representation of the guest kernel features expected to be included (defaults to
    /// 0x1); see docs/measure.md for possible values
    #[arg(long, value_name = "VALUE", value_parser = parse_auto_u64, default_value = "0x1")]
    guest_features: u64,
    /// Measurement output format
    #[arg(long, value_parser = ["hex", "base64"], default_value = "hex")]
    output_format: String,
    /// Precalculated hash of the OVMF binary (hex string)
    #[arg(long, value_name = "HASH")]
    snp_ovmf_hash: Option<String>,
    /// Write measured VMSAs to `vmsa<N>.bin` (seves, snp, and snp:svsm modes only)
    #[arg(long)]
    dump_vmsa: bool,
    /// SVSM binary (snp:svsm mode)
    #[arg(long, value_name = "PATH", help_heading = "snp:svsm Mode", value_parser = path_arg())]
    svsm: Option<PathBuf>,
    /// Size of the OVMF_VARS file in bytes (conflicts with --vars-file)
    #[arg(
        long,
        value_name = "SIZE",
        conflicts_with = "vars_file",
        help_heading = "snp:svsm Mode"
    )]
    vars_size: Option<u64>,
    /// OVMF_VARS file (conflicts with --vars-size)
    #[arg(long, value_name = "PATH", help_heading = "snp:svsm Mode", value_parser = path_arg())]
    vars_file: Option<PathBuf>,
    /// Started as `sev-snp-measure` (usage errors then name that program).
    #[arg(skip)]
    pub(crate) standalone: bool,
}

/// `--version`: the sev-snp-measure release whose behaviour this reproduces, and ours.
pub(crate) const VERSION: &str = concat!("0.0.13 (remits-measure ", env!("CARGO_PKG_VERSION"), ")");

/// A path as argparse takes it: any string, the empty one included (which then counts as
/// absent where sev-snp-measure tests its truthiness).
fn path_arg() -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    use clap::builder::TypedValueParser as _;
    clap::builder::OsStringValueParser::new().map(PathBuf::from)
}

/// The standalone `sev-snp-measure` command (remits-measure started under that name).
pub(crate) fn standalone_command() -> clap::Command {
    use clap::Args as _;
    Args::augment_args(clap::Command::new("sev-snp-measure"))
}

/// Python `int(s, 0)`: decimal, or 0x / 0o / 0b prefixed; `_` between digits.
fn parse_auto_u64(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    let lower = t.to_ascii_lowercase();
    let (digits, radix) = if let Some(r) = lower.strip_prefix("0x") {
        (r, 16)
    } else if let Some(r) = lower.strip_prefix("0o") {
        (r, 8)
    } else if let Some(r) = lower.strip_prefix("0b") {
        (r, 2)
    } else {
        if lower.len() > 1 && lower.starts_with('0') && lower.chars().any(|c| c != '0' && c != '_')
        {
            return Err(format!("invalid integer '{s}' (leading zeros)"));
        }
        (lower.as_str(), 10)
    };
    let digits = digits.strip_prefix('_').unwrap_or(digits);
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return Err(format!("invalid integer '{s}'"));
    }
    u64::from_str_radix(&digits.replace('_', ""), radix)
        .map_err(|e| format!("invalid integer '{s}': {e}"))
}

fn parse_auto_u32(s: &str) -> Result<u32, String> {
    let v = parse_auto_u64(s)?;
    u32::try_from(v).map_err(|_| format!("'{s}' does not fit in 32 bits"))
}

/// A usage error in clap's format (exit 2), like argparse's `parser.error`.
fn usage(standalone: bool, msg: impl std::fmt::Display) -> ExitCode {
    let err = if standalone {
        standalone_command().error(ErrorKind::ArgumentConflict, msg)
    } else {
        let mut cmd = crate::Cli::command();
        cmd.build();
        match cmd.find_subcommand_mut("snp") {
            Some(sub) => sub.error(ErrorKind::ArgumentConflict, msg),
            None => clap::Error::raw(ErrorKind::ArgumentConflict, format!("{msg}\n")),
        }
    };
    let _ = err.print();
    ExitCode::from(2)
}

/// A measurement error: `Error: <text>` and exit 1, as sev-snp-measure does for the errors it
/// catches, and where it stops with a traceback (an unreadable file, a malformed hash: also
/// exit 1). Exit 2 is only for usage errors.
fn failure(e: &Error) -> ExitCode {
    eprintln!("Error: {e}");
    ExitCode::FAILURE
}

/// Python truthiness of an optional path / string: an empty value counts as absent.
fn given(p: &Option<PathBuf>) -> Option<&Path> {
    p.as_deref().filter(|p| !p.as_os_str().is_empty())
}

pub(crate) fn run(a: Args) -> ExitCode {
    // Only the image's tail is read here; its pages are streamed when they are hashed.
    let ovmf_file = match ImageFile::open(&a.ovmf, "OVMF") {
        Ok(d) => d,
        Err(e) => return failure(&e),
    };
    if a.mode == "snp:ovmf-hash" {
        // sev-snp-measure prints this one in hex whatever --output-format says.
        return match launch::snp_ovmf_hash(&ovmf_file) {
            Ok(h) => {
                remits_serve::outln!("{}", launch::Measurement::Sha384(h));
                ExitCode::SUCCESS
            }
            Err(e) => failure(&e),
        };
    }
    let kernel = given(&a.kernel);
    if given(&a.initrd).is_some() && a.kernel.is_none() {
        return usage(a.standalone, "--kernel required when using --initrd");
    }
    let append = a.append.as_deref().filter(|s| !s.is_empty());
    if append.is_some() && a.kernel.is_none() {
        return usage(a.standalone, "--kernel required when using --append");
    }
    let mode: Mode = match a.mode.parse() {
        Ok(m) => m,
        Err(e) => return usage(a.standalone, e),
    };
    if mode != Mode::Sev && a.vcpus.is_none() {
        return usage(
            a.standalone,
            format_args!("missing --vcpus N in guest mode '{}'", a.mode),
        );
    }
    let vmm: VmmType = match a.vmm_type.parse() {
        Ok(v) => v,
        Err(e) => return usage(a.standalone, e),
    };
    let vcpu_sig = if mode == Mode::Sev {
        Some(0)
    } else if let Some(family) = a.vcpu_family.filter(|f| *f != 0) {
        match (a.vcpu_model, a.vcpu_stepping) {
            (Some(m), Some(s)) => Some(cpu_sig(family, m, s)),
            _ => {
                return usage(
                    a.standalone,
                    "--vcpu-family needs --vcpu-model and --vcpu-stepping",
                )
            }
        }
    } else if let Some(sig) = a.vcpu_sig.filter(|s| *s != 0) {
        Some(sig)
    } else if let Some(t) = &a.vcpu_type {
        match vcpu_type_sig(t) {
            Ok(s) => Some(s),
            Err(e) => return usage(a.standalone, e),
        }
    } else if vmm == VmmType::Qemu {
        return usage(
            a.standalone,
            format_args!(
                "missing --vcpu-type or --vcpu-sig or --vcpu-family in guest mode '{}'",
                a.mode
            ),
        );
    } else {
        None
    };
    let mut vars_size = 0;
    let mut svsm_file = None;
    if mode == Mode::SnpSvsm {
        vars_size = if let Some(f) = given(&a.vars_file) {
            match std::fs::metadata(f) {
                Ok(m) => m.len(),
                Err(source) => {
                    return failure(&Error::Io {
                        what: "OVMF vars",
                        path: f.into(),
                        source,
                    })
                }
            }
        } else if let Some(s) = a.vars_size.filter(|s| *s != 0) {
            s
        } else {
            return usage(
                a.standalone,
                "snp:svsm mode requires --vars-size or --vars-file",
            );
        };
        let Some(path) = given(&a.svsm) else {
            // sev-snp-measure stops here with exit 1 (it opens a file named None).
            return failure(&Error::SvsmMissing);
        };
        match ImageFile::open(path, "SVSM") {
            Ok(f) => svsm_file = Some(f),
            Err(e) => return failure(&e),
        }
    }
    if a.dump_vmsa && mode == Mode::Sev {
        return usage(
            a.standalone,
            "--dump-vmsa is not available in the selected mode",
        );
    }
    let ovmf_hash = match a.snp_ovmf_hash.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(h) => {
            let clean: String = h.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            match launch::digest::parse_ovmf_hash(&clean) {
                Ok(arr) => Some(arr),
                Err(e) => return failure(&e),
            }
        }
    };
    let kernel_hashes = match kernel {
        None => None,
        Some(k) => match SevHashes::from_files(k, given(&a.initrd), append) {
            Ok(h) => Some(h),
            Err(e) => return failure(&e),
        },
    };
    let mut inputs = LaunchInputs::new(mode, &ovmf_file);
    // sev-snp-measure takes any int; in `sev` mode it is unused, elsewhere the library
    // refuses a count outside 1..=4096 (a negative one reaches it as 0).
    inputs.vcpus = match a.vcpus {
        None => 1,
        Some(n) => u32::try_from(n.max(0)).unwrap_or(u32::MAX),
    };
    inputs.vcpu_sig = vcpu_sig;
    inputs.guest_features = a.guest_features;
    inputs.vmm = vmm;
    inputs.kernel_hashes = kernel_hashes;
    inputs.ovmf_hash = ovmf_hash;
    inputs.svsm = svsm_file.as_ref().map(Into::into);
    inputs.ovmf_vars_size = vars_size;
    let mut dump_err = None;
    let result = launch::launch_digest_with(&inputs, |i, page| {
        if a.dump_vmsa && dump_err.is_none() {
            let path = PathBuf::from(format!("vmsa{i}.bin"));
            if let Err(source) = std::fs::write(&path, page) {
                dump_err = Some(Error::Io {
                    what: "VMSA dump",
                    path,
                    source,
                });
            }
        }
    });
    if let Some(e) = dump_err {
        return failure(&e);
    }
    let m = match result {
        Ok(m) => m,
        Err(e) => return failure(&e),
    };
    let text = if a.output_format == "base64" {
        m.to_base64()
    } else {
        m.to_string()
    };
    if a.verbose {
        remits_serve::outln!("Calculated {} guest measurement: {text}", mode.name());
    } else {
        remits_serve::outln!("{text}");
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_base_ints() {
        assert_eq!(parse_auto_u64("0x21"), Ok(0x21));
        assert_eq!(parse_auto_u64("0X800F12"), Ok(0x800f12));
        assert_eq!(parse_auto_u64("33"), Ok(33));
        assert_eq!(parse_auto_u64("0b101"), Ok(5));
        assert_eq!(parse_auto_u64("0o17"), Ok(15));
        assert_eq!(parse_auto_u64("1_000"), Ok(1000));
        assert_eq!(parse_auto_u64("0"), Ok(0));
        assert!(parse_auto_u64("010").is_err());
        assert!(parse_auto_u64("-1").is_err());
        assert!(parse_auto_u64("0x").is_err());
        assert!(parse_auto_u64("1__0").is_err());
        assert!(parse_auto_u32("0x100000000").is_err());
    }
}
