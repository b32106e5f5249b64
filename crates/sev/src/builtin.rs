//! AMD's SEV ARK and ASK per product generation, built in and pinned by SHA-256.
//!
//! The files are AMD's published `ask_ark_<generation>.cert` (AMD certificate format), split
//! into ARK and ASK. At first use each is hashed and compared with the digest below, then
//! parsed and the ARK → ARK and ARK → ASK signatures are checked.

use sha2::Digest;

use crate::amd_cert::{AmdCert, USAGE_ARK, USAGE_ASK};
use crate::error::{CertName, Error, Result};

/// An AMD EPYC generation with SEV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Generation {
    /// EPYC 7001.
    Naples,
    /// EPYC 7002.
    Rome,
    /// EPYC 7003.
    Milan,
    /// EPYC 9004.
    Genoa,
    /// EPYC 9005.
    Turin,
}

impl Generation {
    /// Every generation, oldest first.
    pub const ALL: [Generation; 5] = [
        Generation::Naples,
        Generation::Rome,
        Generation::Milan,
        Generation::Genoa,
        Generation::Turin,
    ];

    /// Lower-case name (`milan`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Naples => "naples",
            Self::Rome => "rome",
            Self::Milan => "milan",
            Self::Genoa => "genoa",
            Self::Turin => "turin",
        }
    }

    /// Parses a generation name, case-insensitively.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|g| g.name().eq_ignore_ascii_case(s))
    }

    /// AMD's ARK for this generation (AMD certificate format).
    pub fn ark(self) -> &'static [u8] {
        self.files().0
    }

    /// AMD's ASK for this generation (AMD certificate format).
    pub fn ask(self) -> &'static [u8] {
        self.files().1
    }

    fn files(self) -> (&'static [u8], &'static [u8], &'static str, &'static str) {
        match self {
            Self::Naples => (
                include_bytes!("builtin/naples/ark.cert"),
                include_bytes!("builtin/naples/ask.cert"),
                "dedabca561e1dece8cc00b7bda864cf5f20b95017864408cfe18eaee0dce24b9",
                "c6f30cf923f526c3bcd5c8c221db51e0db65911782f046de17a6603131cdfd7f",
            ),
            Self::Rome => (
                include_bytes!("builtin/rome/ark.cert"),
                include_bytes!("builtin/rome/ask.cert"),
                "865977b268c16d5b27772b00aaefb4e737ba9499e818ed8e9f65b0cecefbc529",
                "7754a69407d25540fe3a695be6b02c58a53bffd12594f5c30793d6cb62875706",
            ),
            Self::Milan => (
                include_bytes!("builtin/milan/ark.cert"),
                include_bytes!("builtin/milan/ask.cert"),
                "1246469862b78a7a8625579b0378d1f8e975eb8b82a1623b579d7968a5969888",
                "c7c73765561c58003a3d09adb2c76993027dd3a1ec4e9be876024c035e015cec",
            ),
            Self::Genoa => (
                include_bytes!("builtin/genoa/ark.cert"),
                include_bytes!("builtin/genoa/ask.cert"),
                "8f4e3fd36589c23f1fe0c8338465bac7e2e066d97fc92f228bbee4fd356fb674",
                "c30307e4f594fb6c51fd753ab758eb78ad4bb70d9e4d96690e51c0621901031d",
            ),
            Self::Turin => (
                include_bytes!("builtin/turin/ark.cert"),
                include_bytes!("builtin/turin/ask.cert"),
                "f6405e5096a6eee1eb7d5df75c49f9b9f7c8357a31c7fff150149d68588a7bf7",
                "2ee285477f0d5eb94a69029197f4cf58ca82d8e1b9a276da1ac45b0db3f4be56",
            ),
        }
    }

    /// The pinned SHA-256 digests (hex) of this generation's ARK and ASK.
    pub fn pinned_sha256(self) -> (&'static str, &'static str) {
        let f = self.files();
        (f.2, f.3)
    }

    /// The verified built-in ARK → ASK pair of this generation.
    ///
    /// # Errors
    ///
    /// [`Error::NotPinned`] or a parse or signature error if the built-in pair fails its own checks
    /// (a build defect: fail closed).
    pub fn roots(self) -> Result<AmdRoots<'static>> {
        let (ark, ask, ark_pin, ask_pin) = self.files();
        for (cert, bytes, pin) in [(CertName::Ark, ark, ark_pin), (CertName::Ask, ask, ask_pin)] {
            let found = hex::encode(sha2::Sha256::digest(bytes));
            if found != pin {
                return Err(Error::NotPinned {
                    cert,
                    generation: self.name(),
                    found,
                });
            }
        }
        AmdRoots::verify(ark, ask, Some(self))
    }
}

impl std::fmt::Display for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A verified ARK → ASK pair.
#[derive(Debug, Clone)]
pub struct AmdRoots<'a> {
    generation: Option<Generation>,
    ask: AmdCert<'a>,
}

impl<'a> AmdRoots<'a> {
    /// Parses and verifies an ARK (self-signed, usage 0x0) and the ASK it signs (usage 0x13).
    /// Use [`Generation::roots`] for AMD's pinned pairs; this is for caller-supplied roots
    /// (a test or private root), which a caller must trust explicitly.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] or [`Error::WrongField`] when a certificate does not parse or has the
    /// wrong usage, [`Error::Signature`] when a link does not verify, [`Error::NotPinned`] when
    /// `generation` is given and the pair is not AMD's for it.
    pub fn verify(ark: &'a [u8], ask: &'a [u8], generation: Option<Generation>) -> Result<Self> {
        let ark = AmdCert::parse(ark, CertName::Ark)?;
        let ask = AmdCert::parse(ask, CertName::Ask)?;
        ark.expect_usage(USAGE_ARK, "0x0 (ARK)")?;
        ask.expect_usage(USAGE_ASK, "0x13 (ASK)")?;
        ark.verify_signed_by(&ark)?;
        ask.verify_signed_by(&ark)?;
        Ok(Self { generation, ask })
    }

    /// The generation, for AMD's built-in roots.
    pub fn generation(&self) -> Option<Generation> {
        self.generation
    }

    /// The ASK.
    pub fn ask(&self) -> &AmdCert<'a> {
        &self.ask
    }
}
