//! `remits-measure image | verify`: predict PCRs and the ENCLAVE ID of a confidential VM disk
//! image, container image and enclave configuration; check a signed manifest.
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use remits_measure::predict::image::ImageOptions;
use remits_measure::predict::manifest::{self, Inputs};
use remits_measure::predict::signing::{PublicKey, SigningKey};
use remits_measure::predict::Error;

/// Arguments of `remits-measure image`.
#[derive(clap::Args)]
pub(crate) struct ImageArgs {
    /// Disk image: raw or fixed VHD (convert others with `qemu-img convert -O raw`).
    #[arg(long)]
    disk: PathBuf,
    /// Container image: `docker save` tarball, OCI layout tarball or OCI layout directory.
    #[arg(long)]
    image: PathBuf,
    /// Enclave configuration (YAML).
    #[arg(long)]
    config: PathBuf,
    /// Sign the manifest with this PEM private key (Ed25519 or P-384); PCR16 measures its public key.
    #[arg(long)]
    signing_key: Option<PathBuf>,
    /// Output file for the manifest (JSON); `-` for stdout.
    #[arg(short = 'o', long)]
    output: PathBuf,
    /// Never draw a progress bar.
    #[arg(long)]
    no_progress: bool,
}

/// Arguments of `remits-measure verify`.
#[derive(clap::Args)]
pub(crate) struct VerifyArgs {
    /// The signed manifest (JSON).
    #[arg(long)]
    manifest: PathBuf,
    /// The expected signer's public key (PEM SPKI, Ed25519 or P-384).
    #[arg(long)]
    key: PathBuf,
}

fn fail(prefix: &str, e: &Error) -> ExitCode {
    eprintln!("remits-measure {prefix}: {e}");
    if e.is_rejection() {
        ExitCode::from(1)
    } else {
        ExitCode::from(2)
    }
}

pub(crate) fn run_image(a: ImageArgs) -> ExitCode {
    let key = match a
        .signing_key
        .as_deref()
        .map(SigningKey::from_file)
        .transpose()
    {
        Ok(k) => k,
        Err(e) => return fail("image", &e.into()),
    };
    let inputs = Inputs {
        disk: &a.disk,
        image: &a.image,
        config: &a.config,
        image_options: ImageOptions {
            progress: !a.no_progress && std::io::stderr().is_terminal(),
        },
    };
    let m = match manifest::measure(&inputs, key.as_ref()).and_then(|m| Ok((m.to_json()?, m))) {
        Ok(m) => m,
        Err(e) => return fail("image", &e),
    };
    let (json, m) = m;
    let written = if a.output.as_os_str() == "-" {
        remits_serve::stdout::write_bytes(&json);
        Ok(())
    } else {
        std::fs::write(&a.output, &json)
    };
    if let Err(e) = written {
        eprintln!("remits-measure image: {}: {e}", a.output.display());
        return ExitCode::from(2);
    }
    let hex = |d: &[u8; 32]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    eprintln!(
        "enclave_id {} ({} boot, PCR15 {})",
        hex(&m.enclave_id.0),
        m.boot_chain,
        m.pcrs.get(&15).map(|p| hex(&p.0)).unwrap_or_default()
    );
    ExitCode::SUCCESS
}

pub(crate) fn run_verify(a: VerifyArgs) -> ExitCode {
    let key = match PublicKey::from_file(&a.key) {
        Ok(k) => k,
        Err(e) => return fail("verify", &e.into()),
    };
    let bytes = match remits_evidence::input::read_capped(
        &a.manifest,
        remits_evidence::input::MAX_INPUT_FILE,
        "--manifest",
    ) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("remits-measure verify: {e}");
            return ExitCode::from(2);
        }
    };
    match manifest::verify_signed(&bytes, &key) {
        Ok(m) => {
            let hex = m
                .enclave_id
                .0
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>();
            remits_serve::outln!("OK: signature valid ({}), enclave_id {hex}", key.alg());
            ExitCode::SUCCESS
        }
        Err(e) => fail("verify", &e.into()),
    }
}
