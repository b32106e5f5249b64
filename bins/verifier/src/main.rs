//! `remits-verifier`: verify attestation evidence from the command line, or serve verification
//! over HTTP. Thin: each subcommand parses its arguments and calls the remits libraries.
//!
//! Exit status: 0 verified (or affirming), 1 evidence rejected or denied, 2 usage error or
//! unreadable input. One human line on stderr says why.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod exit;
mod sev;
mod snp;
mod tpm;
mod verify;

/// Verify confidential-computing attestation evidence.
#[derive(Parser)]
#[command(name = "remits-verifier", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: remits_serve::LogArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Verify a raw AMD SEV-SNP attestation report against AMD's endorsement chain.
    Snp(snp::Args),
    /// Verify a TPM 2.0 quote against an attestation key and PCR values.
    TpmQuote(tpm::QuoteArgs),
    /// Verify Azure SEV-SNP vTPM evidence (HCL report, vTPM quote, VCEK).
    AzSnpVtpm(tpm::AzArgs),
    /// Replay a TCG event log into PCR values.
    Eventlog(tpm::EventlogArgs),
    /// Verify evidence of any supported TEE and appraise it with a Rego policy.
    Verify(verify::Args),
    /// Run the verifier as an HTTP attestation service.
    Serve(verify::ServeArgs),
    /// SEV/SEV-ES pre-launch: verify a platform chain (ARK → ASK → CEK → PEK ← OCA, PEK → PDH).
    SevChain(sev::ChainCmd),
    /// SEV/SEV-ES pre-launch: verify the chain, then write the GODH certificate and session
    /// blob for QEMU and the transport keys (TEK, TIK).
    SevSession(sev::SessionCmd),
    /// SEV/SEV-ES pre-launch: check the launch measurement QEMU reports against a digest.
    SevMeasurement(sev::MeasurementCmd),
    /// SEV/SEV-ES pre-launch: after a matching measurement, build the launch-secret packet.
    SevSecret(sev::SecretCmd),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::usage_code()
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // The service logs its requests at info; the one-shot commands only warnings.
    let level = match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    cli.log.init(level);
    match cli.command {
        Command::Snp(a) => snp::run(a),
        Command::TpmQuote(a) => tpm::run_quote(a),
        Command::AzSnpVtpm(a) => tpm::run_az(a),
        Command::Eventlog(a) => tpm::run_eventlog(a),
        Command::Verify(a) => verify::run(a),
        Command::Serve(a) => verify::serve(a),
        Command::SevChain(a) => sev::run_chain(a),
        Command::SevSession(a) => sev::run_session(a),
        Command::SevMeasurement(a) => sev::run_measurement(a),
        Command::SevSecret(a) => sev::run_secret(a),
    }
}
