//! Trust anchors: AMD's ARK/ASK/ASVK for Milan, Genoa and Turin, built in and pinned, plus
//! anchors the caller adds explicitly (for example a simulator's ARK).

use std::sync::{Arc, OnceLock};

use crate::cert::{pem_bundle_to_der, AmdCert};
use crate::error::CertRole;
use crate::{Error, Generation};

/// SHA-256 fingerprints (DER) of AMD's ARKs, pinned.
pub const AMD_ARK_SHA256: [(Generation, &str); 3] = [
    (
        Generation::Milan,
        "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
    ),
    (
        Generation::Genoa,
        "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
    ),
    (
        Generation::Turin,
        "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
    ),
];

const MILAN_PEM: &str = include_str!("certs/milan.pem");
const GENOA_PEM: &str = include_str!("certs/genoa.pem");
const TURIN_PEM: &str = include_str!("certs/turin.pem");

/// One trusted root and, for AMD's, its built-in intermediates.
#[derive(Debug, Clone)]
pub(crate) struct Anchor {
    pub(crate) ark: Arc<AmdCert>,
    pub(crate) generation: Generation,
    pub(crate) builtin: bool,
    pub(crate) ask: Option<Arc<AmdCert>>,
    pub(crate) asvk: Option<Arc<AmdCert>>,
}

/// The set of roots a [`crate::Verifier`] accepts.
#[derive(Debug, Clone)]
pub struct TrustAnchors {
    pub(crate) anchors: Vec<Anchor>,
}

/// The generation an ARK/ASK/ASVK common name names: `ARK-Milan`, `SEV-Milan`, `SEV-VLEK-Milan`.
pub(crate) fn ca_generation(cn: &str) -> Option<(CertRole, Generation)> {
    let (role, product) = if let Some(p) = cn.strip_prefix("ARK-") {
        (CertRole::Ark, p)
    } else if let Some(p) = cn.strip_prefix("SEV-VLEK-") {
        (CertRole::Asvk, p)
    } else if let Some(p) = cn.strip_prefix("SEV-") {
        (CertRole::Ask, p)
    } else {
        return None;
    };
    Generation::ALL
        .into_iter()
        .find(|g| g.product() == product)
        .map(|g| (role, g))
}

fn builtin(generation: Generation) -> Result<Anchor, Error> {
    let pem = match generation {
        Generation::Milan => MILAN_PEM,
        Generation::Genoa => GENOA_PEM,
        Generation::Turin => TURIN_PEM,
    };
    let mut ark = None;
    let mut ask = None;
    let mut asvk = None;
    for der in pem_bundle_to_der(pem)? {
        let c = AmdCert::from_der(&der, CertRole::Unknown)?;
        match ca_generation(c.subject_cn()) {
            Some((CertRole::Ark, g)) if g == generation => ark = Some(Arc::new(c)),
            Some((CertRole::Ask, g)) if g == generation => ask = Some(Arc::new(c)),
            Some((CertRole::Asvk, g)) if g == generation => asvk = Some(Arc::new(c)),
            _ => {
                return Err(Error::CertProfile {
                    role: CertRole::Unknown,
                    reason: "built-in bundle".into(),
                })
            }
        }
    }
    let ark = ark.ok_or(Error::ChainIncomplete(CertRole::Ark))?;
    let pinned = AMD_ARK_SHA256
        .iter()
        .find(|(g, _)| *g == generation)
        .map(|(_, f)| *f);
    if pinned != Some(hex::encode(ark.fingerprint()).as_str()) {
        return Err(Error::UntrustedRoot {
            fingerprint: hex::encode(ark.fingerprint()),
        });
    }
    Ok(Anchor {
        ark,
        generation,
        builtin: true,
        ask,
        asvk,
    })
}

fn builtins() -> &'static Result<Vec<Anchor>, String> {
    static B: OnceLock<Result<Vec<Anchor>, String>> = OnceLock::new();
    B.get_or_init(|| {
        Generation::ALL
            .into_iter()
            .map(builtin)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())
    })
}

impl TrustAnchors {
    /// AMD's pinned ARKs (with their ASKs and ASVKs) for Milan, Genoa and Turin.
    pub fn amd() -> Self {
        match builtins() {
            Ok(a) => TrustAnchors { anchors: a.clone() },
            // The built-ins are compiled in and checked by tests; an empty set fails closed.
            Err(_) => TrustAnchors {
                anchors: Vec::new(),
            },
        }
    }

    /// No anchors at all: only roots added with [`TrustAnchors::with_ark`] are trusted.
    pub fn empty() -> Self {
        TrustAnchors {
            anchors: Vec::new(),
        }
    }

    /// Add an explicit extra root (DER or PEM). It must be a self-issued RSA certificate following
    /// AMD's profile, with CN `ARK-Milan`, `ARK-Genoa` or `ARK-Turin`; its self-signature is checked
    /// during chain verification. Its intermediates must be supplied in the endorsement.
    ///
    /// # Errors
    ///
    /// [`Error::CertParse`] when `ark` is not a certificate, [`Error::CertProfile`] when it is not
    /// a self-issued ARK in AMD's profile.
    pub fn with_ark(mut self, ark: &[u8]) -> Result<Self, Error> {
        let der = crate::cert::der_or_pem(ark)?;
        let c = AmdCert::from_der(&der, CertRole::Ark)?;
        let Some((CertRole::Ark, generation)) = ca_generation(c.subject_cn()) else {
            return Err(Error::CertProfile {
                role: CertRole::Ark,
                reason: format!(
                    "subject CN {:?} is not ARK-<Milan|Genoa|Turin>",
                    c.subject_cn()
                ),
            });
        };
        if !c.is_self_issued() {
            return Err(Error::CertProfile {
                role: CertRole::Ark,
                reason: "not self-issued".into(),
            });
        }
        if !self
            .anchors
            .iter()
            .any(|a| a.ark.fingerprint() == c.fingerprint())
        {
            self.anchors.push(Anchor {
                ark: Arc::new(c),
                generation,
                builtin: false,
                ask: None,
                asvk: None,
            });
        }
        Ok(self)
    }

    /// Whether no anchor is configured.
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// SHA-256 fingerprints (hex) of the trusted ARKs with their generations.
    pub fn fingerprints(&self) -> Vec<(Generation, String)> {
        self.anchors
            .iter()
            .map(|a| (a.generation, hex::encode(a.ark.fingerprint())))
            .collect()
    }

    /// The built-in DER of AMD's certificates for a generation: `(ark, ask, asvk)`.
    pub fn amd_certificates(generation: Generation) -> Option<(Vec<u8>, Vec<u8>, Vec<u8>)> {
        let a = builtins()
            .as_ref()
            .ok()?
            .iter()
            .find(|a| a.generation == generation)?;
        Some((
            a.ark.der().to_vec(),
            a.ask.as_ref()?.der().to_vec(),
            a.asvk.as_ref()?.der().to_vec(),
        ))
    }
}

impl Default for TrustAnchors {
    fn default() -> Self {
        TrustAnchors::amd()
    }
}
