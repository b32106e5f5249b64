//! PCR and ENCLAVE ID prediction for confidential VM disk images, container images and enclave
//! configurations ("measure at build time").
//!
//! The pipeline, documented byte for byte in `docs/measurements.md`:
//! - [`disk`] opens a raw or fixed-VHD disk image, [`gpt`] reads its partition table (PCR5),
//!   the EFI system partition is read as FAT and [`predict_disk`] / [`predict_boot`] follow the
//!   supported boot chains (shim + GRUB, UKI / systemd-stub) to predict PCR4, PCR9 and PCR11
//!   ([`pe`] computes the Authenticode hashes);
//! - [`image`] measures a container image (docker-save tarball or OCI image layout) and
//!   [`config`] the enclave configuration (YAML); together they form the PCR15 event sequence;
//! - [`manifest`] assembles the PCRs, their events, the [`enclave_id`] and an optional
//!   signature ([`signing`]); the signer's public key is measured into PCR16.
//!
//! [`events`] holds the event model and the PCR replay used everywhere.

mod boot;
pub mod config;
pub mod disk;
pub mod enclave_id;
mod esp;
pub mod events;
pub mod gpt;
pub mod image;
pub mod manifest;
pub mod pe;
pub mod signing;

mod error;
pub use boot::{
    parse_grub_cfg, predict as predict_boot, predict_disk, BootPrediction, Chain, GrubEntry,
    DEFAULT_BOOT, UKI_SECTIONS,
};
pub use error::Error;

/// Version of this tool, written into every manifest.
pub const TOOL_VERSION: &str = concat!("remits-measure ", env!("CARGO_PKG_VERSION"));
