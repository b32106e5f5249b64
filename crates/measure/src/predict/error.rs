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
    /// A key file could not be used.
    #[error("key: {0}")]
    Key(String),
    /// The manifest is malformed or inconsistent.
    #[error("manifest: {field}: {reason}")]
    Manifest {
        /// Field that failed.
        field: String,
        /// Why.
        reason: String,
    },
    /// The manifest signature does not verify with the given key.
    #[error("manifest signature: {0}")]
    Signature(String),
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
    /// True when the error means "the input was rejected" (exit 1), false for I/O and usage
    /// problems (exit 2).
    pub fn is_rejection(&self) -> bool {
        matches!(self, Error::Signature(_) | Error::Manifest { .. })
    }
}

/// The manifest, key and signature errors of `remits-manifest` are the same-named variants here.
impl From<remits_manifest::Error> for Error {
    fn from(e: remits_manifest::Error) -> Self {
        use remits_manifest::Error as M;
        match e {
            M::Io { what, source } => Error::Io { what, source },
            M::Key(k) => Error::Key(k),
            M::Manifest { field, reason } => Error::Manifest { field, reason },
            M::Signature(s) => Error::Signature(s),
            // A variant added to remits-manifest later: still a rejected manifest.
            other => Error::Manifest {
                field: "manifest".into(),
                reason: other.to_string(),
            },
        }
    }
}
