//! `remits-broker`: the key broker service (thin binary: arguments → remits-kbs).
//!
//! Exit codes: 0 ok, 1 refused by the broker (or bench errors), 2 usage / I/O / start-up.

mod bench;
mod dev;
mod keygen;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use remits_evidence::clock::SystemClock;
use remits_evidence::input::{read_capped, read_capped_string, MAX_INPUT_FILE};
use remits_kbs::admin::AdminSigningKey;
use remits_kbs::client::{AdminClient, ClientError, ClientOptions};
use remits_kbs::config::BrokerConfig;
use remits_kbs::OsRandom;

/// mimalloc instead of glibc's allocator: a handshake makes thousands of small, short-lived
/// allocations across the runtime's threads (JSON, policy values, HTTP), where glibc's arenas
/// spent about a fifth of the broker's CPU (measured with `perf`, docs/broker.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "remits-broker",
    version,
    about = "CoCo-KBS-compatible key broker"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    #[command(flatten)]
    log: remits_serve::LogArgs,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the broker.
    Serve {
        /// TOML configuration (see docs/broker.md).
        #[arg(long, conflicts_with = "dev")]
        config: Option<PathBuf>,
        /// Development mode: embedded store, generated admin key and simulator chain,
        /// sample TEE allowed, development policy. Loopback only.
        #[arg(long)]
        dev: bool,
        /// Listen address (dev mode only; default 127.0.0.1:8080). With --config, set `listen`
        /// in the file: giving both is an error.
        #[arg(long, requires = "dev", conflicts_with = "config")]
        listen: Option<SocketAddr>,
        /// Data directory (dev mode only; default ./remits-dev). With --config, set
        /// `[storage] dir` in the file: giving both is an error.
        #[arg(long, requires = "dev", conflicts_with = "config")]
        data_dir: Option<PathBuf>,
    },
    /// Administer a broker (signed admin JWTs).
    Admin {
        /// Broker base URL.
        #[arg(long)]
        broker: String,
        /// Admin private key (PKCS#8 PEM, Ed25519 or P-256).
        #[arg(long)]
        key: PathBuf,
        /// Extra CA certificate (PEM) for an https broker.
        #[arg(long)]
        ca: Option<PathBuf>,
        /// Allow a plain http:// broker that is not on loopback (the admin token and any
        /// secret sent would cross the network in clear).
        #[arg(long)]
        insecure_http: bool,
        /// `iss` of the admin JWTs (a trustee KBS checks it against its identity provider's
        /// `issuer`).
        #[arg(long, default_value = remits_kbs::admin::DEFAULT_ADMIN_ISSUER)]
        issuer: String,
        /// `aud` of the admin JWTs (omitted unless given).
        #[arg(long)]
        audience: Option<String>,
        #[command(subcommand)]
        action: AdminCmd,
    },
    /// Generate a production key file (mode 0600; never overwrites): `admin`, `token-key`
    /// or `kek` (see docs/deploy.md).
    Keygen {
        /// Which key.
        #[arg(value_enum)]
        kind: keygen::KeyKind,
        /// File to create (the private key, or the KEK).
        #[arg(long)]
        out: PathBuf,
        /// File for the public half (admin: default next to --out, `x.pem` -> `x.pub.pem`;
        /// token-key: written only when given).
        #[arg(long = "pub")]
        public: Option<PathBuf>,
    },
    /// Load test: full handshakes (auth, attest, fetch + decrypt).
    Bench {
        /// Broker base URL.
        #[arg(long)]
        broker: String,
        /// TEE to attest as.
        #[arg(long, value_enum)]
        tee: BenchTee,
        /// Concurrent clients.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Total handshakes.
        #[arg(long, default_value_t = 10_000)]
        handshakes: usize,
        /// Resource to fetch (`repo/type/tag`).
        #[arg(long)]
        path: String,
        /// Simulator chain directory (for `--tee sim-snp`).
        #[arg(long, default_value = "./remits-dev/sim")]
        sim_dir: PathBuf,
        /// Extra CA certificate (PEM) for an https broker.
        #[arg(long)]
        ca: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Store a resource: `put-resource repo/type/tag --file F`.
    PutResource {
        /// Resource path.
        path: String,
        /// File with the secret.
        #[arg(long)]
        file: PathBuf,
    },
    /// Delete a resource.
    DeleteResource {
        /// Resource path.
        path: String,
    },
    /// Replace the resource policy with a Rego file.
    SetResourcePolicy {
        /// Rego file.
        file: PathBuf,
    },
    /// Replace an attestation policy with a Rego file.
    SetAttestationPolicy {
        /// Rego file.
        file: PathBuf,
        /// Policy id.
        #[arg(long, default_value = "default")]
        id: String,
    },
    /// Register reference values (JSON file or signed remits-measure manifest).
    RegisterReferenceValues {
        /// File.
        file: PathBuf,
    },
    /// Register (or re-register) a workload from a JSON file: measurement, secrets, policy and
    /// reference value in one transaction (docs/broker.md, "Workload registration").
    RegisterWorkload {
        /// JSON file (remits' form or `{workload_id, launch_measurement, tee_config,
        /// passphrase}`).
        file: PathBuf,
    },
    /// Remove a workload and everything its registration wrote.
    DeleteWorkload {
        /// Workload id.
        id: String,
    },
    /// Print the reference values registered under ID (JSON), as trustee's `kbs-client
    /// config get-reference-value` does.
    GetReferenceValue {
        /// Reference value id (e.g. `snp_launch_measurement`).
        id: String,
    },
    /// Print the stored resource paths, one a line (never their values).
    ListResources,
}

/// TEE for the load test.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum BenchTee {
    /// The unsigned development TEE.
    Sample,
    /// The remits SNP simulator.
    SimSnp,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.log.init("info");
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("remits-broker: cannot start runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("remits-broker: {e:#}");
            match e.downcast_ref::<ClientError>() {
                Some(ClientError::Denied { .. }) => ExitCode::from(1),
                _ => ExitCode::from(2),
            }
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.cmd {
        Cmd::Serve {
            config,
            dev,
            listen,
            data_dir,
        } => {
            let listen = listen.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)));
            let data_dir = data_dir.unwrap_or_else(|| PathBuf::from("./remits-dev"));
            let (cfg, fresh_dev) = match (config, dev) {
                (Some(p), false) => (BrokerConfig::load(&p)?, false),
                (None, true) => {
                    let p = dev::prepare(&data_dir, listen)?;
                    (p.config, p.fresh)
                }
                _ => anyhow::bail!("serve needs --config FILE or --dev"),
            };
            serve(cfg, dev.then_some(data_dir), fresh_dev).await?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Admin {
            broker,
            key,
            ca,
            insecure_http,
            issuer,
            audience,
            action,
        } => {
            let pem = read_capped_string(&key, MAX_INPUT_FILE, "--key")?;
            let key = AdminSigningKey::from_pem(&pem).with_context(|| {
                format!(
                    "--key {}: expected the admin private key (PKCS#8 PEM, Ed25519 or P-256)",
                    key.display()
                )
            })?;
            let opts = ClientOptions {
                root_certs: ca.into_iter().collect(),
                allow_insecure_http: insecure_http,
                ..Default::default()
            };
            let admin = AdminClient::new(&broker, key, &opts)?
                .with_claims(remits_kbs::admin::AdminClaims { issuer, audience });
            // Every file error names the argument and the path.
            let read = |p: &PathBuf, what: &str| read_capped(p, MAX_INPUT_FILE, what);
            let rego = |p: &PathBuf| -> anyhow::Result<String> {
                String::from_utf8(read(p, "FILE")?).map_err(|_| {
                    anyhow::anyhow!("FILE {}: not UTF-8 (expected a Rego policy)", p.display())
                })
            };
            match action {
                AdminCmd::PutResource { path, file } => {
                    admin.put_resource(&path, read(&file, "--file")?).await?
                }
                AdminCmd::DeleteResource { path } => admin.delete_resource(&path).await?,
                AdminCmd::SetResourcePolicy { file } => {
                    admin.set_resource_policy(&rego(&file)?).await?
                }
                AdminCmd::SetAttestationPolicy { file, id } => {
                    admin.set_attestation_policy(&id, &rego(&file)?).await?
                }
                AdminCmd::RegisterReferenceValues { file } => {
                    admin
                        .register_reference_values(read(&file, "FILE")?)
                        .await?
                }
                AdminCmd::RegisterWorkload { file } => {
                    admin.register_workload(read(&file, "FILE")?).await?
                }
                AdminCmd::DeleteWorkload { id } => admin.delete_workload(&id).await?,
                AdminCmd::GetReferenceValue { id } => {
                    let v = admin.get_reference_value(&id).await?;
                    remits_serve::outln!("{v}");
                    return Ok(ExitCode::SUCCESS);
                }
                AdminCmd::ListResources => {
                    for p in admin.list_resources().await? {
                        remits_serve::outln!("{p}");
                    }
                    return Ok(ExitCode::SUCCESS);
                }
            }
            remits_serve::outln!("ok");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Keygen { kind, out, public } => {
            println!("{}", keygen::run(kind, &out, public)?);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bench {
            broker,
            tee,
            concurrency,
            handshakes,
            path,
            sim_dir,
            ca,
        } => {
            let report = bench::run(bench::BenchArgs {
                broker,
                tee,
                concurrency,
                handshakes,
                path,
                sim_dir,
                ca,
            })
            .await?;
            remits_serve::outln!("{report}");
            Ok(if report.errors == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

async fn serve(cfg: BrokerConfig, dev_dir: Option<PathBuf>, fresh_dev: bool) -> anyhow::Result<()> {
    let fd_limit = remits_serve::raise_fd_limit();
    let built =
        remits_kbs::assemble::assemble(&cfg, Arc::new(SystemClock), Arc::new(OsRandom)).await?;
    if fresh_dev {
        built
            .service
            .set_resource_policy(dev::DEV_RESOURCE_POLICY)
            .await
            .context("installing the development resource policy")?;
    }
    let listener = tokio::net::TcpListener::bind(built.listen)
        .await
        .with_context(|| format!("binding {}", built.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if built.tls.is_some() { "https" } else { "http" };
    if let Some(dir) = dev_dir {
        dev::print_usage(&dir, &format!("{scheme}://{addr}"));
    }
    tracing::info!(
        listen = %addr,
        tls = built.tls.is_some(),
        compat = ?cfg.compat,
        max_connections = built.limits.effective_max_connections(fd_limit),
        "remits-broker serving"
    );
    let router = remits_kbs::server::router(built.state.clone());
    remits_kbs::server::serve_with(
        listener,
        router,
        built.tls,
        &built.limits,
        remits_serve::shutdown_signal(),
    )
    .await?;
    tracing::info!("remits-broker stopped");
    Ok(())
}
