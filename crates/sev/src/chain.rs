//! The SEV platform chain a guest owner checks before starting a launch session:
//! ARK → ASK → CEK → PEK ← OCA (self-signed), PEK → PDH.

use crate::builtin::{AmdRoots, Generation};
use crate::error::{invalid, CertName, Error, Result};
use crate::sev_cert::{SevCert, SEV_CERT_LEN};

/// The platform's four SEV certificates, as received (owned bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformChain {
    /// Chip Endorsement Key.
    pub cek: Vec<u8>,
    /// Owner Certificate Authority.
    pub oca: Vec<u8>,
    /// Platform Endorsement Key.
    pub pek: Vec<u8>,
    /// Platform Diffie-Hellman key.
    pub pdh: Vec<u8>,
}

/// Which ARK/ASK pairs a chain may verify under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootChoice {
    /// AMD's built-in roots of one generation.
    Generation(Generation),
    /// AMD's built-in roots of any generation (the first one whose ASK signed the CEK).
    AnyGeneration,
}

impl PlatformChain {
    /// Splits the single-file form `sevctl export` writes: PDH ‖ PEK ‖ OCA ‖ CEK, 0x824 bytes
    /// each.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] unless `bytes` is exactly four certificates long.
    pub fn from_sevctl_export(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != 4 * SEV_CERT_LEN {
            return Err(invalid(
                "platform chain",
                format!(
                    "{} bytes; the exported chain is PDH ‖ PEK ‖ OCA ‖ CEK, {} bytes",
                    bytes.len(),
                    4 * SEV_CERT_LEN
                ),
            ));
        }
        let mut parts = bytes.chunks_exact(SEV_CERT_LEN).map(<[u8]>::to_vec);
        let (Some(pdh), Some(pek), Some(oca), Some(cek)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("platform chain", "fewer than four certificates"));
        };
        Ok(Self { pdh, pek, oca, cek })
    }

    /// The single-file form: PDH ‖ PEK ‖ OCA ‖ CEK.
    pub fn to_sevctl_export(&self) -> Vec<u8> {
        [&self.pdh[..], &self.pek, &self.oca, &self.cek].concat()
    }

    /// Verifies every link against AMD's pinned roots: ARK → ASK → CEK → PEK, OCA → OCA,
    /// OCA → PEK, PEK → PDH. The error names the first link that fails.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] or [`Error::WrongField`] when a certificate does not parse,
    /// [`Error::Signature`] naming the first link that fails, [`Error::NoGeneration`] when no
    /// generation's ASK signed the CEK.
    #[must_use = "the verified platform is the only trusted view of the chain"]
    pub fn verify(&self, roots: RootChoice) -> Result<VerifiedPlatform> {
        let candidates: Vec<Generation> = match roots {
            RootChoice::Generation(g) => vec![g],
            RootChoice::AnyGeneration => Generation::ALL.to_vec(),
        };
        let cek = SevCert::parse(&self.cek, CertName::Cek)?;
        let mut last = None;
        let mut found = None;
        for g in &candidates {
            let pair = g.roots()?;
            match cek.verify_signed_by_ask(pair.ask()) {
                Ok(()) => {
                    found = Some(*g);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let generation = match (found, last) {
            (Some(g), _) => g,
            // One candidate: report its link failure as is.
            (None, Some(e)) if candidates.len() == 1 => return Err(e),
            (None, e) => {
                return Err(Error::NoGeneration {
                    tried: candidates
                        .iter()
                        .map(|g| g.name())
                        .collect::<Vec<_>>()
                        .join(", "),
                    reason: e.map(|e| e.to_string()).unwrap_or_default(),
                })
            }
        };
        self.verify_below_cek(&cek, Some(generation))
    }

    /// Verifies the chain under caller-supplied roots (an ARK → ASK pair the caller has
    /// decided to trust, e.g. a test platform). Never used for AMD's roots.
    ///
    /// # Errors
    ///
    /// As [`PlatformChain::verify`], without [`Error::NoGeneration`].
    #[must_use = "the verified platform is the only trusted view of the chain"]
    pub fn verify_with_roots(&self, roots: &AmdRoots<'_>) -> Result<VerifiedPlatform> {
        let cek = SevCert::parse(&self.cek, CertName::Cek)?;
        cek.verify_signed_by_ask(roots.ask())?;
        self.verify_below_cek(&cek, roots.generation())
    }

    fn verify_below_cek(
        &self,
        cek: &SevCert<'_>,
        generation: Option<Generation>,
    ) -> Result<VerifiedPlatform> {
        let oca = SevCert::parse(&self.oca, CertName::Oca)?;
        let pek = SevCert::parse(&self.pek, CertName::Pek)?;
        let pdh = SevCert::parse(&self.pdh, CertName::Pdh)?;
        oca.verify_signed_by(&oca)?;
        pek.verify_signed_by(cek)?;
        pek.verify_signed_by(&oca)?;
        pdh.verify_signed_by(&pek)?;
        Ok(VerifiedPlatform {
            generation,
            pdh: *pdh.public_key(),
            pdh_cert: self.pdh.clone(),
            pdh_api: pdh.api_version(),
        })
    }
}

/// A platform whose PDH was proven to chain to an ASK: the only input a launch session
/// accepts. Built only by [`PlatformChain::verify`] and [`PlatformChain::verify_with_roots`].
#[derive(Debug, Clone)]
#[must_use = "a verification result: use it (or bind it to `_` to drop it on purpose)"]
pub struct VerifiedPlatform {
    generation: Option<Generation>,
    pdh: p384::PublicKey,
    pdh_cert: Vec<u8>,
    pdh_api: (u8, u8),
}

impl VerifiedPlatform {
    /// The generation whose built-in ASK signed the CEK (`None` under caller-supplied roots
    /// without a generation).
    pub fn generation(&self) -> Option<Generation> {
        self.generation
    }

    /// The PDH public key.
    pub fn pdh(&self) -> &p384::PublicKey {
        &self.pdh
    }

    /// The PDH certificate bytes.
    pub fn pdh_cert(&self) -> &[u8] {
        &self.pdh_cert
    }

    /// The API version recorded in the PDH certificate.
    pub fn pdh_api_version(&self) -> (u8, u8) {
        self.pdh_api
    }
}
