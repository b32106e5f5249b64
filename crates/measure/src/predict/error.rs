//! The error type of PCR prediction.

/// Why a prediction, a manifest or a signature check failed. Each variant names the input and the
/// check; none of them carries secret material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading an input file failed.
    #[error("{what}: I/O error: {source}")]
    Io {
        /// Which input (e.g. "disk image", "layer sha256:…").
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The disk image is in a format that is not supported (convert it first).
    #[error("disk image: unsupported format {format}: convert it to raw first, e.g. `qemu-img convert -O raw {hint} disk.raw`")]
    UnsupportedDiskFormat {
        /// The detected format.
        format: String,
        /// Input file name, for the hint.
        hint: String,
    },
    /// A VHD footer is malformed.
    #[error("disk image: VHD footer: {0}")]
    Vhd(String),
    /// The GPT is malformed.
    #[error("GPT: {field}: {reason}")]
    Gpt {
        /// Field or structure that failed.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The EFI system partition could not be read.
    #[error("EFI system partition: {0}")]
    Esp(String),
    /// A PE/COFF (EFI) binary is malformed.
    #[error("PE image {name}: {reason}")]
    Pe {
        /// Path or name of the binary.
        name: String,
        /// Why.
        reason: String,
    },
    /// The boot chain on the ESP is not one of the supported ones.
    #[error("boot chain: {0}")]
    BootChain(String),
    /// The container image is malformed or unsupported.
    #[error("container image: {0}")]
    Image(String),
    /// The enclave configuration is invalid.
    #[error("enclave config: {0}")]
    Config(String),
    /// A manifest, signing key or signature check of `remits-manifest` failed (its message as
    /// is: `key: ...`, `manifest: FIELD: ...`, `manifest signature: ...`).
    #[error(transparent)]
    Manifest(#[from] remits_manifest::Error),
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
    pub(crate) fn gpt(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Gpt {
            field,
            reason: reason.into(),
        }
    }
    /// True when the error means "the input was rejected" (exit 1: a malformed manifest or a
    /// signature that does not verify, see [`remits_manifest::Error::is_rejection`]), false for
    /// I/O and usage problems (exit 2).
    pub fn is_rejection(&self) -> bool {
        matches!(self, Error::Manifest(e) if e.is_rejection())
    }
}
