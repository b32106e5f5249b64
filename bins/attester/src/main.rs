//! Thin binary: parses arguments and calls the remits libraries.
//!
//! Exit codes: 0 ok, 1 denied/rejected by the broker, 2 usage, I/O or unreachable broker.

mod flow;
mod keyprovider;
mod owner;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use remits_attest::detect::{CollectorOptions, TeeChoice};
use remits_attest::tpm::{Bank, TpmConfig};
use remits_evidence::initdata::InitData;

#[derive(Parser)]
#[command(
    name = "remits-attester",
    version,
    about = "Collect evidence, attest to a broker, deliver secrets"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    log: remits_serve::LogArgs,
    #[command(subcommand)]
    cmd: Cmd,
}

/// Options every command takes.
#[derive(Args, Clone)]
struct Common {
    /// Evidence collector: auto (first hardware collector that works), snp, az-snp-vtpm, tpm,
    /// sim-snp (simulator; development only) or sample (development only).
    #[arg(long, global = true, default_value = "auto", env = "REMITS_TEE")]
    tee: TeeChoice,
    /// Simulator chain directory (written by `remits-broker serve --dev`).
    #[arg(long, global = true, default_value = "./remits-dev/sim")]
    sim_dir: PathBuf,
    /// TPM TCTI, e.g. device:/dev/tpmrm0 or swtpm:host=127.0.0.1,port=2321. Precedence:
    /// this flag, then $REMITS_TCTI, then tpm2-tools' $TPM2TOOLS_TCTI, then
    /// device:/dev/tpmrm0.
    #[arg(long, global = true, env = "REMITS_TCTI", value_name = "TCTI")]
    tcti: Option<String>,
    /// Persistent handle of the TPM attestation key (hex).
    #[arg(long, global = true, default_value = "0x81010002", value_parser = parse_handle)]
    ak_handle: u32,
    /// PCR banks to quote (comma-separated; sha256 is always included).
    #[arg(long, global = true, default_value = "sha256", value_delimiter = ',')]
    pcr_banks: Vec<Bank>,
    /// Send evidence only in trustee's forms (for a trustee KBS, or remits-broker with
    /// compat = "trustee").
    #[arg(long, global = true)]
    trustee_forms: bool,
    /// TCG event log to send with TPM evidence (skipped when absent).
    #[arg(long, global = true, default_value = remits_attest::tpm::DEFAULT_EVENT_LOG)]
    event_log: PathBuf,
    /// How long one TPM interaction may take before it counts as busy (a TPM held by another
    /// client, or hung) instead of being waited on: seconds or a duration (`30s`).
    #[arg(long, global = true, default_value = "30s", value_name = "DURATION",
          value_parser = remits_serve::parse_positive_duration)]
    tpm_timeout: std::time::Duration,
    /// Init-data TOML the guest was launched with (CoCo `initdata`, with a top-level
    /// `algorithm`): sent with every attestation (format "toml"); the verifier checks its
    /// digest against HOST_DATA (SNP) or PCR8 (TPM). The simulator reports it in HOST_DATA.
    #[arg(long, global = true, value_name = "FILE")]
    init_data: Option<PathBuf>,
    /// Simulator only: report this HOST_DATA (64 hex digits) instead of the --init-data
    /// digest, as if the host had launched the guest with other init-data (development).
    #[arg(long, global = true, value_name = "HEX", value_parser = parse_host_data, hide = true)]
    sim_host_data: Option<[u8; 32]>,
}

fn parse_host_data(s: &str) -> Result<[u8; 32], String> {
    let b = hex::decode(s).map_err(|e| format!("{s:?}: {e}"))?;
    b.try_into()
        .map_err(|_| format!("{s:?}: expected 32 bytes (64 hex digits)"))
}

/// Reads and checks `--init-data`: UTF-8 TOML naming a supported `algorithm`, at most
/// [`remits_evidence::initdata::MAX_BODY`] bytes.
fn load_init_data(path: &std::path::Path) -> Result<InitData, String> {
    let body = remits_evidence::input::read_capped_string(
        path,
        remits_evidence::initdata::MAX_BODY as u64,
        "--init-data",
    )
    .map_err(|e| e.to_string())?;
    let d = InitData {
        format: "toml".into(),
        body,
    };
    d.digest()
        .map_err(|e| format!("--init-data {}: {e}", path.display()))?;
    Ok(d)
}

/// The TCTI when `--tcti` (or `$REMITS_TCTI`, which clap reads into it) is not given:
/// tpm2-tools' `$TPM2TOOLS_TCTI`, else the kernel's resource manager.
const DEFAULT_TCTI: &str = "device:/dev/tpmrm0";

fn resolve_tcti(flag: Option<&str>, tpm2tools: Option<String>) -> String {
    flag.filter(|s| !s.is_empty())
        .map(str::to_owned)
        .or(tpm2tools.filter(|s| !s.is_empty()))
        .unwrap_or_else(|| DEFAULT_TCTI.to_owned())
}

fn parse_handle(s: &str) -> Result<u32, String> {
    let t = s.trim_start_matches("0x").trim_start_matches("0X");
    u32::from_str_radix(t, 16).map_err(|e| format!("{s:?}: {e}"))
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the evidence JSON for this platform, binding the report data (hex, at most 64
    /// bytes).
    Evidence {
        /// Report data (the verifier's nonce), hex.
        #[arg(long = "report-data", alias = "nonce", value_name = "HEX")]
        nonce: String,
    },
    /// Attest and write one secret's bytes to stdout.
    GetResource {
        /// Broker URL (http://host:port or https://...).
        #[arg(long)]
        broker: String,
        /// `<repo>/<type>/<tag>`.
        #[arg(long)]
        path: String,
        #[command(flatten)]
        net: flow::NetOptions,
    },
    /// Attest, write the secrets, then execute COMMAND (the workload's entry point).
    Run {
        /// Broker URL.
        #[arg(long)]
        broker: String,
        /// `<repo>/<type>/<tag>=<path>`; a relative path is placed in a private directory
        /// (0700, on tmpfs when available), exported as REMITS_SECRETS_DIR.
        #[arg(long = "secret", required = true)]
        secrets: Vec<String>,
        /// A remits-measure manifest: extend its PCR15/PCR16 events into the TPM first.
        #[arg(long)]
        extend_config: Option<PathBuf>,
        /// Parent directory for the private secrets directory (default: $XDG_RUNTIME_DIR or
        /// /dev/shm when on tmpfs, else the temporary directory).
        #[arg(long)]
        secrets_dir: Option<PathBuf>,
        #[command(flatten)]
        net: flow::NetOptions,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Attest, fetch a disk key and open a LUKS2 volume with it through `cryptsetup` (the key
    /// goes over a pipe, never argv or the environment). Denied: exit 1, nothing opened.
    Unlock {
        /// Broker URL.
        #[arg(long)]
        broker: String,
        /// `<repo>/<type>/<tag>` of the volume's key (the passphrase of a registered workload).
        #[arg(long)]
        path: String,
        /// The LUKS2 device or image file.
        #[arg(long)]
        device: PathBuf,
        /// Device-mapper name: the volume appears as /dev/mapper/NAME.
        #[arg(long, required_unless_present = "test_passphrase")]
        name: Option<String>,
        /// Only check that the released key opens a keyslot (`--test-passphrase`); map nothing.
        #[arg(long)]
        test_passphrase: bool,
        /// Open read-only.
        #[arg(long)]
        readonly: bool,
        /// The cryptsetup program.
        #[arg(long, default_value = "cryptsetup")]
        cryptsetup: PathBuf,
        #[command(flatten)]
        net: flow::NetOptions,
    },
    /// The ocicrypt key provider (command form) for encrypted container images: reads one
    /// keywrap/keyunwrap request on stdin, answers on stdout. Unwrapping attests to --broker
    /// and fetches the key-encryption key named by the layer's annotation. See docs/images.md.
    #[command(after_help = KEYPROVIDER_HELP)]
    Keyprovider {
        #[command(flatten)]
        opts: keyprovider::KeyProviderOptions,
    },
    /// Serve `GET /cdh/resource/<repo>/<type>/<tag>` (CoCo confidential-data-hub API) and
    /// GET /aa/token?token_type=kbs, /aa/evidence?runtime_data=... (attestation agent) to the
    /// workload, on a unix socket (access by file mode/owner) or on loopback TCP (access by a
    /// per-boot bearer token in --token-file, and a Host allow-list).
    #[command(after_help = SERVE_HELP)]
    Serve {
        /// Where to listen: unix:/PATH (a socket file, see --socket-mode/--socket-owner) or a
        /// loopback HOST:PORT (requests need the bearer token, see --token-file).
        #[arg(long, default_value = "127.0.0.1:8006")]
        listen: String,
        /// Broker URL.
        #[arg(long)]
        broker: String,
        #[command(flatten)]
        access: serve::AccessOptions,
        #[command(flatten)]
        net: flow::NetOptions,
        #[command(flatten)]
        limits: remits_serve::NetArgs,
    },
}

/// Extra `keyprovider --help` text.
const KEYPROVIDER_HELP: &str = "\
OCICRYPT_KEYPROVIDER_CONFIG=ocicrypt.json, with
  {\"key-providers\":{\"remits\":{\"cmd\":{\"path\":\"/usr/bin/remits-attester\",
    \"args\":[\"--tee\",\"snp\",\"keyprovider\",\"--broker\",\"https://kbs.example\"]}}}}
Encrypt (build host): skopeo copy --encryption-key \\
    provider:remits:keyid=kbs:///default/image-kek/app::keypath=kek.bin oci:app oci:app-enc
Decrypt (guest):      skopeo copy --decryption-key provider:remits oci:app-enc oci:app";

/// Extra `serve --help` text: who can read secrets.
const SERVE_HELP: &str = "\
Access control (anyone who can make a request gets the secrets):
  unix socket:  --listen unix:/run/remits/cdh.sock --socket-owner app
                only users with write permission on the socket file can connect
                (default mode 0600: the owner only).
  loopback TCP: --listen 127.0.0.1:8006 --token-file /run/remits/cdh-token --token-owner app
                a fresh 32-byte token per start; send 'Authorization: Bearer <token>'
                (missing or wrong: 401). Host must be localhost, 127.0.0.1, [::1] or an
                --allow-host name (else 421).
A malformed resource path is 400 before the broker is contacted.
One attestation serves many requests: its token is cached until shortly before it expires and
sent as a bearer token (passport) for the next resources; a 401 to it attests again once.";

impl Common {
    fn collectors(&self, init_data: Option<InitData>) -> CollectorOptions {
        CollectorOptions {
            init_data,
            sim_host_data: self.sim_host_data,
            tpm: TpmConfig {
                tcti: resolve_tcti(self.tcti.as_deref(), std::env::var("TPM2TOOLS_TCTI").ok()),
                ak_handle: self.ak_handle,
                banks: self.pcr_banks.clone(),
                event_log: Some(self.event_log.clone()),
                nonce_len: 32,
                timeout: self.tpm_timeout,
            },
            azure: Default::default(),
            sim_dir: self.sim_dir.clone(),
            trustee_forms: self.trustee_forms,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The sidecar API logs its requests at info; the one-shot commands only warnings.
    cli.log.init(if matches!(cli.cmd, Cmd::Serve { .. }) {
        "info"
    } else {
        "warn"
    });
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("remits-attester: {e}");
            return ExitCode::from(2);
        }
    };
    let init_data = match cli
        .common
        .init_data
        .as_deref()
        .map(load_init_data)
        .transpose()
    {
        Ok(d) => d,
        Err(e) => {
            eprintln!("remits-attester: {e}");
            return ExitCode::from(2);
        }
    };
    let opts = cli.common.collectors(init_data.clone());
    let tee = cli.common.tee;
    let mut cmd = cli.cmd;
    match &mut cmd {
        Cmd::GetResource { net, .. }
        | Cmd::Run { net, .. }
        | Cmd::Serve { net, .. }
        | Cmd::Unlock { net, .. } => {
            net.init_data = init_data;
        }
        Cmd::Keyprovider { opts } => opts.net.init_data = init_data,
        Cmd::Evidence { .. } => {}
    }
    let result = rt.block_on(async move {
        match cmd {
            Cmd::Evidence { nonce } => flow::evidence(tee, &opts, &nonce),
            Cmd::GetResource { broker, path, net } => {
                flow::get_resource(tee, &opts, &broker, &path, &net).await
            }
            Cmd::Run {
                broker,
                secrets,
                extend_config,
                secrets_dir,
                net,
                command,
            } => {
                flow::run(
                    tee,
                    &opts,
                    &broker,
                    &secrets,
                    extend_config.as_deref(),
                    secrets_dir.as_deref(),
                    &net,
                    &command,
                )
                .await
            }
            Cmd::Unlock {
                broker,
                path,
                device,
                name,
                test_passphrase,
                readonly,
                cryptsetup,
                net,
            } => {
                use remits_attest::luks::{UnlockMode, UnlockRequest};
                let req = UnlockRequest {
                    device,
                    name: name.unwrap_or_default(),
                    mode: if test_passphrase {
                        UnlockMode::Test
                    } else {
                        UnlockMode::Open
                    },
                    cryptsetup,
                    options: if readonly {
                        vec!["--readonly".to_string()]
                    } else {
                        Vec::new()
                    },
                };
                flow::unlock(tee, &opts, &broker, &path, &req, &net).await
            }
            Cmd::Keyprovider { opts: kp } => keyprovider::run(tee, &opts, &kp).await,
            Cmd::Serve {
                listen,
                broker,
                access,
                net,
                limits,
            } => {
                serve::serve(
                    tee,
                    &opts,
                    &listen,
                    &broker,
                    &access,
                    &net,
                    &limits.limits(),
                )
                .await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("remits-attester: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcti_precedence() {
        // --tcti or $REMITS_TCTI (clap puts either in the flag) wins over $TPM2TOOLS_TCTI.
        let swtpm = "swtpm:host=127.0.0.1,port=2321";
        assert_eq!(resolve_tcti(Some(swtpm), Some("tabrmd".into())), swtpm);
        assert_eq!(resolve_tcti(None, Some(swtpm.into())), swtpm);
        assert_eq!(resolve_tcti(Some(""), Some(swtpm.into())), swtpm);
        assert_eq!(resolve_tcti(None, Some(String::new())), DEFAULT_TCTI);
        assert_eq!(resolve_tcti(None, None), DEFAULT_TCTI);
    }
}
