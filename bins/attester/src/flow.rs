//! The commands' flows: evidence, get-resource and run (attest → write secrets → exec).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use remits_attest::deliver::{self, Secret};
use remits_attest::detect::{select, CollectorOptions, TeeChoice};
use remits_evidence::attester::{Attester, AttesterError};
use remits_evidence::initdata::InitData;
use remits_kbs::client::{ClientError, ClientOptions, KbsClient};
use remits_kbs::jwe::TeeKeyPair;
use zeroize::Zeroizing;

/// A failed command: exit code and one human line.
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
    /// The broker's HTTP status when it refused (for `serve` to pass on).
    pub(crate) http: Option<u16>,
}

impl Failure {
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
            http: None,
        }
    }
    pub(crate) fn denied(message: impl Into<String>) -> Self {
        Failure {
            code: 1,
            message: message.into(),
            http: None,
        }
    }
}

/// Network behaviour shared by the commands that talk to a broker.
#[derive(Args, Clone, Debug)]
pub(crate) struct NetOptions {
    /// Keep retrying network failures (and a busy TPM) for this long, with backoff: seconds
    /// or a duration (`60s`, `5m`); 0 tries once.
    #[arg(long, default_value = "60s", value_name = "DURATION",
          value_parser = remits_serve::parse_duration)]
    pub(crate) retry_for: Duration,
    /// Per-request timeout: seconds or a duration (`30s`).
    #[arg(long, default_value = "30s", value_name = "DURATION",
          value_parser = remits_serve::parse_positive_duration)]
    pub(crate) timeout: Duration,
    /// Trust this CA (PEM) for an https:// broker, besides the system trust store
    /// (`SSL_CERT_FILE` / `SSL_CERT_DIR` are honoured). Repeatable.
    #[arg(long = "ca")]
    pub(crate) ca: Vec<PathBuf>,
    /// Accept a plain http:// broker that is not on loopback. Refused by default: the host
    /// carries a guest's traffic and could answer as the broker with secrets of its choice.
    #[arg(long)]
    pub(crate) insecure_http: bool,
    /// Init-data sent with every attestation (from the global `--init-data`).
    #[arg(skip)]
    pub(crate) init_data: Option<InitData>,
}

impl NetOptions {
    /// The client options these flags ask for.
    pub(crate) fn client_options(&self) -> ClientOptions {
        ClientOptions {
            timeout: self.timeout,
            root_certs: self.ca.clone(),
            allow_insecure_http: self.insecure_http,
            init_data: self.init_data.clone(),
            ..ClientOptions::default()
        }
    }
}

pub(crate) fn attester(
    tee: TeeChoice,
    opts: &CollectorOptions,
) -> Result<Box<dyn Attester>, Failure> {
    select(tee, opts).map_err(|e| Failure::usage(format!("evidence collector: {e}")))
}

pub(crate) fn evidence(
    tee: TeeChoice,
    opts: &CollectorOptions,
    nonce_hex: &str,
) -> Result<(), Failure> {
    let nonce = hex::decode(nonce_hex).map_err(|e| Failure::usage(format!("--nonce: {e}")))?;
    let a = attester(tee, opts)?;
    let ev = a
        .evidence(&nonce)
        .map_err(|e| Failure::usage(format!("evidence: {e}")))?;
    let text = serde_json::to_string_pretty(&ev).map_err(|e| Failure::usage(e.to_string()))?;
    remits_serve::outln!("{text}");
    Ok(())
}

fn retryable(e: &ClientError) -> bool {
    e.is_retryable() || matches!(e, ClientError::Attester(AttesterError::Busy { .. }))
}

/// Fetches every path in one attested session, starting over (new session) after network
/// failures or a busy TPM until `net.retry_for` runs out. A denial is never retried.
pub(crate) async fn fetch_all(
    attester: &dyn Attester,
    broker: &str,
    paths: &[&str],
    net: &NetOptions,
) -> Result<Vec<Zeroizing<Vec<u8>>>, Failure> {
    fetch_all_session(attester, broker, paths, net)
        .await
        .map(|(values, _)| values)
}

/// A denial by the broker as a [`Failure`] (exit 1) carrying its HTTP status.
pub(crate) fn denied(what: &str, status: u16, detail: &str) -> Failure {
    let mut f = Failure::denied(format!("broker denied {what} (HTTP {status}): {detail}"));
    f.http = Some(status);
    f
}

/// [`fetch_all`], also handing back the session's attestation token and TEE key pair (for
/// passport use: the sidecar caches them). With no paths it only attests.
pub(crate) async fn fetch_all_session(
    attester: &dyn Attester,
    broker: &str,
    paths: &[&str],
    net: &NetOptions,
) -> Result<(Vec<Zeroizing<Vec<u8>>>, Option<(String, TeeKeyPair)>), Failure> {
    let start = Instant::now();
    // A deadline past what Instant can hold means "retry for as long as the process lives".
    let deadline = start
        .checked_add(net.retry_for)
        .unwrap_or_else(|| start + Duration::from_secs(1 << 32));
    let mut backoff = Duration::from_millis(200);
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let mut client = KbsClient::new(broker, net.client_options())
            .map_err(|e| Failure::usage(e.to_string()))?;
        let mut out = Vec::with_capacity(paths.len());
        let mut failed: Option<(&str, ClientError)> = None;
        if paths.is_empty() {
            if let Err(e) = client.attest(attester).await {
                failed = Some(("the attestation", e));
            }
        }
        for p in paths {
            match client.get_resource(p, attester).await {
                Ok(v) => out.push(v),
                Err(e) => {
                    failed = Some((*p, e));
                    break;
                }
            }
        }
        let Some((path, err)) = failed else {
            return Ok((out, client.take_session()));
        };
        drop(out);
        match err {
            ClientError::Denied { status, detail } => {
                return Err(denied(path, status, &detail));
            }
            e if retryable(&e) => {
                if Instant::now() + backoff > deadline {
                    return Err(Failure::usage(format!(
                        "broker {broker} not reachable after {attempts} attempts over {:.1}s: {e}",
                        start.elapsed().as_secs_f64()
                    )));
                }
                tracing::warn!(attempt = attempts, error = %e, "retrying");
                eprintln!(
                    "remits-attester: attempt {attempts} failed ({e}); retrying in {backoff:?}"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            e @ ClientError::Tls(_) => {
                return Err(Failure::denied(format!("broker {broker}: {e}")));
            }
            e => return Err(Failure::usage(format!("{path}: {e}"))),
        }
    }
}

pub(crate) async fn get_resource(
    tee: TeeChoice,
    opts: &CollectorOptions,
    broker: &str,
    path: &str,
    net: &NetOptions,
) -> Result<(), Failure> {
    let a = attester(tee, opts)?;
    let mut v = fetch_all(a.as_ref(), broker, &[path], net).await?;
    let value = v.pop().ok_or_else(|| Failure::usage("no value"))?;
    // A closed stdout ends the process quietly (status 141); another write error, status 2.
    remits_serve::stdout::write_bytes(&value);
    Ok(())
}

/// `<repo>/<type>/<tag>=<path>`.
fn parse_secret(s: &str) -> Result<(&str, &str), Failure> {
    match s.split_once('=') {
        Some((r, p)) if !r.is_empty() && !p.is_empty() => Ok((r, p)),
        _ => Err(Failure::usage(format!(
            "--secret {s:?}: expected <repo>/<type>/<tag>=<path>"
        ))),
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn run(
    tee: TeeChoice,
    opts: &CollectorOptions,
    broker: &str,
    secrets: &[String],
    extend_config: Option<&Path>,
    secrets_dir: Option<&Path>,
    net: &NetOptions,
    command: &[String],
) -> Result<(), Failure> {
    let pairs = secrets
        .iter()
        .map(|s| parse_secret(s))
        .collect::<Result<Vec<_>, _>>()?;
    let (program, args) = command
        .split_first()
        .ok_or_else(|| Failure::usage("no COMMAND given"))?;

    if let Some(path) = extend_config {
        if matches!(tee, TeeChoice::SimSnp | TeeChoice::Sample | TeeChoice::Snp) {
            return Err(Failure::usage(
                "--extend-config needs a TPM (--tee tpm, az-snp-vtpm or auto)",
            ));
        }
        let text = remits_evidence::input::read_capped(
            path,
            remits_evidence::input::MAX_INPUT_FILE,
            "--extend-config",
        )
        .map_err(|e| Failure::usage(e.to_string()))?;
        let manifest: remits_measure::predict::manifest::Manifest = serde_json::from_slice(&text)
            .map_err(|e| {
            Failure::usage(format!(
                "{}: not a remits-measure manifest: {e}",
                path.display()
            ))
        })?;
        let plan = manifest.extend_plan();
        remits_attest::tpm::apply_extend_plan(&opts.tpm.tcti, &plan, opts.tpm.timeout)
            .map_err(|e| Failure::usage(format!("extending PCR15/PCR16: {e}")))?;
        eprintln!(
            "remits-attester: extended {} events into PCR15/PCR16",
            plan.len()
        );
    }

    let a = attester(tee, opts)?;
    let paths: Vec<&str> = pairs.iter().map(|(r, _)| *r).collect();
    let values = fetch_all(a.as_ref(), broker, &paths, net).await?;

    // Relative destinations go into one fresh private directory.
    let needs_private = pairs.iter().any(|(_, p)| Path::new(p).is_relative());
    let private = if needs_private {
        let parent = secrets_dir
            .map(Path::to_path_buf)
            .unwrap_or_else(deliver::default_secrets_parent);
        Some(
            deliver::create_private_dir(&parent)
                .map_err(|e| Failure::usage(format!("secrets directory: {e}")))?,
        )
    } else {
        None
    };
    let to_write: Vec<Secret> = pairs
        .iter()
        .zip(values)
        .map(|((_, p), value)| {
            let path = match &private {
                Some(dir) if Path::new(p).is_relative() => dir.join(p),
                _ => PathBuf::from(p),
            };
            Secret { path, value }
        })
        .collect();
    if let Err(e) = deliver::write_all_or_nothing(&to_write) {
        if let Some(dir) = &private {
            let _ = std::fs::remove_dir_all(dir);
        }
        return Err(Failure::usage(format!("writing secret: {e}")));
    }
    drop(to_write);

    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    if let Some(dir) = &private {
        cmd.env("REMITS_SECRETS_DIR", dir);
    }
    use std::os::unix::process::CommandExt;
    let err = cmd.exec();
    Err(Failure::usage(format!("cannot execute {program}: {err}")))
}

/// `unlock`: check the volume, attest, fetch its key, open it with `cryptsetup` (key on a pipe,
/// zeroized after). Denied → exit 1 and nothing opened.
pub(crate) async fn unlock(
    tee: TeeChoice,
    opts: &CollectorOptions,
    broker: &str,
    path: &str,
    req: &remits_attest::luks::UnlockRequest,
    net: &NetOptions,
) -> Result<(), Failure> {
    use remits_attest::luks::{self, LuksError, UnlockMode};
    // Fail before attesting when the volume or the name cannot work.
    if req.mode == UnlockMode::Open {
        luks::check_name(&req.name).map_err(|e| Failure::usage(format!("--name: {e}")))?;
    }
    luks::is_luks2(&req.cryptsetup, &req.device)
        .map_err(|e| Failure::usage(format!("--device: {e}")))?;
    let a = attester(tee, opts)?;
    let mut v = fetch_all(a.as_ref(), broker, &[path], net).await?;
    let key = v.pop().ok_or_else(|| Failure::usage("no value"))?;
    match luks::unlock(req, key) {
        Ok(()) => {
            match req.mode {
                UnlockMode::Open => eprintln!(
                    "remits-attester: opened {} as /dev/mapper/{}",
                    req.device.display(),
                    req.name
                ),
                UnlockMode::Test => eprintln!(
                    "remits-attester: the released key opens {}",
                    req.device.display()
                ),
            }
            Ok(())
        }
        // cryptsetup's exit 2: no keyslot opens with this key — the broker released a key that
        // is not this volume's.
        Err(e @ LuksError::Cryptsetup { code: Some(2), .. }) => {
            Err(Failure::denied(format!("{path}: {e}")))
        }
        Err(e) => Err(Failure::usage(e.to_string())),
    }
}
