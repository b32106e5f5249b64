//! `remits-measure`: compute, before deployment, the measurements a workload will present.
//! Thin: each subcommand parses its arguments and calls `remits-measure` (the library).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod image;
mod snp;

/// Predict reference measurements.
#[derive(Parser)]
#[command(name = "remits-measure", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: remits_serve::LogArgs,
}

#[derive(Subcommand)]
enum Command {
    /// SEV-SNP (and SEV, SEV-ES) launch digest; a drop-in for sev-snp-measure (also run
    /// when started under that name, e.g. through a symlink).
    Snp(Box<snp::Args>),
    /// Predict PCRs and the ENCLAVE ID for a disk image, container image and enclave config.
    Image(image::ImageArgs),
    /// Check the signature of a measurement manifest.
    Verify(image::VerifyArgs),
}

/// Started as `sev-snp-measure` (a symlink or copy under that name): `remits-measure snp`.
fn invoked_as_sev_snp_measure() -> bool {
    std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .and_then(|p| p.file_stem().map(|s| s == "sev-snp-measure"))
        .unwrap_or(false)
}

/// Exit status of a clap error: 2 for a usage error, 0 for `--help` / `--version`.
fn clap_exit(e: &clap::Error) -> ExitCode {
    let _ = e.print();
    if e.use_stderr() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

fn sev_snp_measure_main() -> ExitCode {
    use clap::FromArgMatches;
    let matches = match snp::standalone_command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return clap_exit(&e),
    };
    let mut args = match snp::Args::from_arg_matches(&matches) {
        Ok(a) => a,
        Err(e) => return clap_exit(&e),
    };
    args.standalone = true;
    remits_serve::LogArgs::default().init("warn");
    snp::run(args)
}

fn main() -> ExitCode {
    if invoked_as_sev_snp_measure() {
        return sev_snp_measure_main();
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_exit(&e),
    };
    cli.log.init("warn");
    match cli.command {
        Command::Snp(a) => snp::run(*a),
        Command::Image(a) => image::run_image(a),
        Command::Verify(a) => image::run_verify(a),
    }
}
