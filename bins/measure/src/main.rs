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
    /// SEV-SNP (and SEV, SEV-ES) launch digest; a drop-in for sev-snp-measure.
    Snp(Box<snp::Args>),
    /// Predict PCRs and the ENCLAVE ID for a disk image, container image and enclave config.
    Image(image::ImageArgs),
    /// Check the signature of a measurement manifest.
    Verify(image::VerifyArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    cli.log.init("warn");
    match cli.command {
        Command::Snp(a) => snp::run(*a),
        Command::Image(a) => image::run_image(a),
        Command::Verify(a) => image::run_verify(a),
    }
}
