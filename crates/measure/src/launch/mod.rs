//! SEV-SNP, SEV-ES and SEV launch digests (a port of sev-snp-measure at its current head).
//!
//! The AMD secure processor measures every page the hypervisor adds to an SNP guest before it
//! runs; the result is the report's MEASUREMENT. This module predicts it from the inputs:
//! - [`ovmf`] parses the firmware: its GUIDed footer table (walked backwards from 32 bytes
//!   before the end) and the SEV metadata sections; an [`ImageSource`] gives the image as bytes
//!   or as an [`ImageFile`] of which only the tail is held and the pages are streamed when hashed;
//! - the PAGE_INFO chain ([`normal_page_digests`] hashes the pages); [`SevHashes`] is the SEV
//!   hashes table of a direct kernel boot;
//! - the initial VMSA per [`VmmType`] (QEMU, EC2, GCE) and the CPUID signatures of the QEMU CPU
//!   models ([`vcpu_type_sig`], [`cpu_sig`], [`VCPU_TYPES`]);
//! - [`digest`] combines them for each mode (`sev`, `seves`, `snp`, `snp:svsm`, and the OVMF
//!   hash of `snp:ovmf-hash`);
//! - [`idblock`] builds and checks the ID block, ID_AUTH and ID-key / author-key digests.
//!
//! ```no_run
//! use remits_measure::launch::{launch_digest, ImageFile, LaunchInputs, Mode, SevHashes};
//! // Or `std::fs::read` the image and pass `&bytes`: same digest.
//! let ovmf = ImageFile::open("OVMF.amdsev.fd".as_ref(), "OVMF")?;
//! let mut inputs = LaunchInputs::new(Mode::Snp, &ovmf);
//! inputs.vcpus = 4;
//! inputs.vcpu_sig = Some(remits_measure::launch::vcpu_type_sig("EPYC-Milan")?);
//! inputs.kernel_hashes = Some(SevHashes::new(b"kernel bytes", None, Some("console=ttyS0")));
//! println!("{}", launch_digest(&inputs)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod digest;
mod gctx;
pub mod guid;
mod hashes;
pub mod idblock;
pub mod ovmf;
mod source;
mod vcpu;
mod vmsa;

mod error;
mod sha;

pub use digest::{
    launch_digest, launch_digest_with, snp_ovmf_hash, LaunchInputs, Measurement, Mode, MAX_VCPUS,
};
pub use error::Error;
pub use gctx::{normal_page_digests, LD_SIZE};
pub use hashes::SevHashes;
pub use ovmf::Firmware;
pub use source::{ImageFile, ImageSource};
pub use vcpu::{cpu_sig, vcpu_type_sig, VCPU_TYPES};
pub use vmsa::VmmType;
