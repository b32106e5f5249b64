//! The measurement manifest (JSON, format version 1): predicted PCRs, their events, the ENCLAVE
//! ID and an optional signature.
//!
//! The format, its parsing, signing and verification are `remits_manifest::manifest`,
//! re-exported here; this module builds a manifest from the predictions ([`build`], [`measure`]).

use std::collections::BTreeMap;
use std::path::Path;

pub use remits_manifest::manifest::{
    verify_signed, Hex32, Manifest, Signature, FORMAT, FORMAT_VERSION, PCR_APP, PCR_SIGNER,
    SIGNING_DOMAIN,
};

use super::boot::{BootPrediction, Chain};
use super::config::{pcr15_digest, EnclaveConfig};
use super::events::{types, Event};
use super::image::{ImageMeasurement, ImageOptions};
use super::signing::{PublicKey, SigningKey};
use super::{Error, TOOL_VERSION};

/// The PCR15 event sequence for an image and a configuration (see `docs/measurements.md`).
///
/// # Errors
///
/// [`Error::Config`] when the enclave configuration cannot be encoded as events.
pub fn pcr15_events(image: &ImageMeasurement, config: &EnclaveConfig) -> Result<Vec<Event>, Error> {
    let mut ev = vec![Event::new(
        types::REMITS_EVENT,
        "remits.pcr15.version",
        pcr15_digest("remits.pcr15.version", b"1"),
    )];
    ev.extend(image.events());
    ev.extend(config.events()?);
    Ok(ev)
}

fn chain_name(c: &Chain) -> &'static str {
    match c {
        Chain::Uki => "uki",
        Chain::ShimGrub => "shim+grub",
        Chain::Grub => "grub",
    }
}

/// Assembles an unsigned manifest from the predictions. With `signer`, PCR16 measures that key
/// (sign with [`Manifest::sign`] afterwards); without, PCR16 has no events and stays zero.
///
/// # Errors
///
/// The [`remits_manifest::Error`] of the manifest builder (as [`Error`]) for events it refuses.
pub fn build(
    boot: &BootPrediction,
    image: &ImageMeasurement,
    config: &EnclaveConfig,
    signer: Option<&PublicKey>,
) -> Result<Manifest, Error> {
    let mut events = BTreeMap::new();
    events.insert(4, boot.pcr4.clone());
    events.insert(5, boot.pcr5.clone());
    events.insert(9, boot.pcr9.clone());
    events.insert(11, boot.pcr11.clone());
    events.insert(PCR_APP, pcr15_events(image, config)?);
    events.insert(
        PCR_SIGNER,
        match signer {
            Some(k) => vec![k.pcr16_event()?],
            None => Vec::new(),
        },
    );
    Ok(Manifest::from_events(
        chain_name(&boot.chain),
        TOOL_VERSION,
        events,
    )?)
}

/// Inputs of [`measure`].
#[derive(Clone, Debug)]
pub struct Inputs<'a> {
    /// Disk image (raw or fixed VHD).
    pub disk: &'a Path,
    /// Container image (tarball or OCI layout directory).
    pub image: &'a Path,
    /// Enclave configuration (YAML).
    pub config: &'a Path,
    /// Image hashing options.
    pub image_options: ImageOptions,
}

/// End to end: predicts every PCR, builds the manifest and signs it if `key` is given.
///
/// # Errors
///
/// [`Error`] naming the input (disk image, container image or enclave configuration) that cannot
/// be read, parsed or measured, or the signing step that failed.
pub fn measure(inputs: &Inputs<'_>, key: Option<&SigningKey>) -> Result<Manifest, Error> {
    let cfg_bytes = remits_evidence::input::read_capped(
        inputs.config,
        remits_evidence::input::MAX_INPUT_FILE,
        "enclave config",
    )
    .map_err(|e| {
        Error::io(
            inputs.config.display().to_string(),
            std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
        )
    })?;
    let config = EnclaveConfig::from_yaml(&cfg_bytes)?;
    let boot = super::boot::predict_disk(inputs.disk)?;
    let image = super::image::measure_image(inputs.image, &inputs.image_options)?;
    let pk = key.map(SigningKey::public_key);
    let mut m = build(&boot, &image, &config, pk.as_ref())?;
    if let Some(k) = key {
        m.sign(k)?;
    }
    Ok(m)
}
