//! `remits-attester keyprovider`: the ocicrypt key-provider command (one request on stdin, one
//! answer on stdout). The protocol and the crypto live in `remits_kbs::keyprovider`.

use std::io::Read;
use std::path::PathBuf;

use clap::Args;
use remits_attest::detect::{CollectorOptions, TeeChoice};
use remits_kbs::keyprovider::{
    self, AnnotationPacket, KekSource, KeyId, KeyProviderError, Request, WrapRequest, KEK_LEN,
    MAX_REQUEST_BYTES,
};
use zeroize::Zeroizing;

use crate::flow::{self, Failure, NetOptions};

/// Options of `keyprovider` (the `args` of the `OCICRYPT_KEYPROVIDER_CONFIG` entry).
#[derive(Args, Clone, Debug)]
pub(crate) struct KeyProviderOptions {
    /// The name this command is registered under in OCICRYPT_KEYPROVIDER_CONFIG (ocicrypt
    /// passes the parameters of `provider:<name>:...` under it). Register the same command as
    /// `attestation-agent` (with `--name attestation-agent`) for CoCo-encrypted images.
    #[arg(long, default_value = "remits")]
    name: String,
    /// Broker URL: where the guest attests and fetches the key-encryption key (unwrap), or where
    /// a fresh KEK is stored with --admin-key (wrap).
    #[arg(long)]
    broker: Option<String>,
    /// Wrap side: the 32-byte key-encryption key to use when the parameters name no `keypath`.
    #[arg(long)]
    kek_file: Option<PathBuf>,
    /// Wrap side: with --broker, generate a fresh KEK per image and store it at the key id
    /// through the broker's admin API, signed with this admin key (PEM).
    #[arg(long)]
    admin_key: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) net: NetOptions,
}

fn protocol(e: KeyProviderError) -> Failure {
    Failure::usage(format!("keyprovider: {e}"))
}

fn read_kek(path: &std::path::Path) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let kek = Zeroizing::new(
        remits_evidence::input::read_capped(path, 4096, "key-encryption key")
            .map_err(|e| Failure::usage(e.to_string()))?,
    );
    if kek.len() != KEK_LEN {
        return Err(protocol(KeyProviderError::KekLength(kek.len())));
    }
    Ok(kek)
}

/// Reads one request (at most [`MAX_REQUEST_BYTES`]) from stdin, answers on stdout.
pub(crate) async fn run(
    tee: TeeChoice,
    opts: &CollectorOptions,
    kp: &KeyProviderOptions,
) -> Result<(), Failure> {
    let mut input = Zeroizing::new(Vec::new());
    std::io::stdin()
        .lock()
        .take(MAX_REQUEST_BYTES + 1)
        .read_to_end(&mut input)
        .map_err(|e| Failure::usage(format!("reading stdin: {e}")))?;
    let answer = match Request::parse(&input, &kp.name).map_err(protocol)? {
        Request::Wrap { params, optsdata } => {
            let w = WrapRequest::parse(&params).map_err(protocol)?;
            let kek = wrap_kek(kp, &w).await?;
            let packet = keyprovider::wrap(&w.kid, &kek, &optsdata, &mut rand_core::OsRng)
                .map_err(protocol)?;
            Zeroizing::new(keyprovider::wrap_response(&packet.to_json()))
        }
        Request::Unwrap { packet } => unwrap(tee, opts, kp, &packet).await?,
    };
    remits_serve::stdout::write_bytes(&answer[..]);
    Ok(())
}

/// The KEK for wrapping: `keypath=`, else `--kek-file`, else a fresh one stored via admin.
async fn wrap_kek(kp: &KeyProviderOptions, w: &WrapRequest) -> Result<Zeroizing<Vec<u8>>, Failure> {
    match (&w.kek, &kp.kek_file, &kp.admin_key, &kp.broker) {
        (KekSource::File(p), _, _, _) | (KekSource::Default, Some(p), _, _) => read_kek(p),
        (KekSource::Default, None, Some(key), Some(broker)) => {
            store_fresh_kek(broker, key, &w.kid, &kp.net).await
        }
        _ => Err(Failure::usage(
            "keyprovider: no key-encryption key: give keypath= in the parameters, --kek-file, \
             or --broker with --admin-key",
        )),
    }
}

async fn store_fresh_kek(
    broker: &str,
    key: &std::path::Path,
    kid: &KeyId,
    net: &NetOptions,
) -> Result<Zeroizing<Vec<u8>>, Failure> {
    use rand_core::RngCore;
    let pem = remits_evidence::input::read_capped_string(
        key,
        remits_evidence::input::MAX_INPUT_FILE,
        "--admin-key",
    )
    .map_err(|e| Failure::usage(e.to_string()))?;
    let signer = remits_kbs::admin::AdminSigningKey::from_pem(&pem)
        .map_err(|e| Failure::usage(format!("--admin-key: {e}")))?;
    let admin = remits_kbs::client::AdminClient::new(broker, signer, &net.client_options())
        .map_err(|e| Failure::usage(e.to_string()))?;
    let mut kek = Zeroizing::new(vec![0u8; KEK_LEN]);
    rand_core::OsRng.fill_bytes(&mut kek);
    admin
        .put_resource(&kid.resource_path(), kek.to_vec())
        .await
        .map_err(|e| Failure::denied(format!("storing the KEK at {}: {e}", kid.uri())))?;
    Ok(kek)
}

/// Attests, fetches the KEK named by the packet and unwraps. Nothing is written on failure.
async fn unwrap(
    tee: TeeChoice,
    opts: &CollectorOptions,
    kp: &KeyProviderOptions,
    packet: &AnnotationPacket,
) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let kid = packet.check().map_err(protocol)?;
    let broker = kp
        .broker
        .as_deref()
        .ok_or_else(|| Failure::usage("keyprovider: keyunwrap needs --broker"))?;
    let a = flow::attester(tee, opts)?;
    let path = kid.resource_path();
    let mut v = flow::fetch_all(a.as_ref(), broker, &[path.as_str()], &kp.net).await?;
    let kek = v.pop().ok_or_else(|| Failure::usage("no value"))?;
    let optsdata = packet.unwrap(&kek).map_err(|e| match e {
        KeyProviderError::KekLength(_) | KeyProviderError::Unwrap => {
            Failure::denied(format!("keyprovider: {} ({})", e, kid.uri()))
        }
        e => protocol(e),
    })?;
    Ok(keyprovider::unwrap_response(&optsdata))
}
