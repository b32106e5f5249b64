//! Report verification against AMD's endorsement chain.
//!
//! [`Verifier::verify`] performs, in order:
//! 1. the report is 1184 bytes, VERSION 2-5, SIGNATURE_ALGO 1, KEY_INFO names a VCEK or VLEK;
//! 2. the leaf parses, its CN is `SEV-VCEK`/`SEV-VLEK`, its key is P-384, its extensions follow
//!    AMD's profile for its generation (structVersion, productName, SPLs, hwID for a VCEK only,
//!    cspID for a VLEK only);
//! 3. chain: leaf issuer `SEV-<Gen>` (ASK, for a VCEK) or `SEV-VLEK-<Gen>` (ASVK, for a VLEK),
//!    from the endorsement or built in; ARK from the endorsement (must be pinned or explicitly
//!    trusted) or from the trust anchors; ARK self-signature, ARK→ASK/ASVK and ASK/ASVK→leaf all
//!    RSASSA-PSS SHA-384 salt 48 over the exact received TBS bytes (cached by leaf DER hash and
//!    exact chain); the leaf kind equals KEY_INFO.SIGNING_KEY;
//! 4. the ECDSA P-384/SHA-384 signature over the received bytes `[0, 0x2A0)`; no other report
//!    field is trusted before this;
//! 5. every certificate is valid at [`VerifyOptions::time`];
//! 6. optional CRL (the stricter of [`VerifyOptions::check_crl`] and the verifier's
//!    [`Verifier::with_crl_check`]): neither the ASK/ASVK serial nor a non-zero leaf serial is
//!    listed by the ARK's CRL of the path's kind (VCEK or VLEK CRL), which must be fresh when
//!    fail-closed (see [`crate::CrlKind`]);
//! 7. generation: caller's, CPUID's (v3+) and the certificate's (issuer CN, productName,
//!    structVersion) agree;
//! 8. REPORTED_TCB equals the leaf SPLs (FMC on Turin; reserved bytes equal spl_4..7);
//! 9. for a VCEK, CHIP_ID equals hwID (Turin: first 8 bytes, the other 56 zero);
//! 10. optional expected REPORT_DATA / HOST_DATA (full comparison, shorter values zero-padded).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::anchors::{ca_generation, Anchor, TrustAnchors};
use crate::backend::{default_backend, P384Key, SignatureBackend};
use crate::cert::{AmdCert, PublicKey};
use crate::claims::SnpClaims;
use crate::crl::{CrlCheck, CrlInfo, CrlKind, CrlStore, Subject};
use crate::error::CertRole;
use crate::report::Report;
use crate::{Error, Generation, Signer};

/// The certificates that endorse a report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endorsement {
    /// VCEK or VLEK, DER.
    pub leaf: Vec<u8>,
    /// ASK/ASVK and/or ARK, DER, in any order. Empty: AMD's built-ins are used.
    pub chain: Vec<Vec<u8>>,
}

impl Endorsement {
    /// A leaf with AMD's built-in chain.
    pub fn leaf(leaf: Vec<u8>) -> Self {
        Endorsement {
            leaf,
            chain: Vec::new(),
        }
    }
}

/// What to check besides the always-on checks.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Verification time for certificate validity (and CRL freshness).
    pub time: SystemTime,
    /// The CPU generation, when the caller knows it. Required to agree with CPUID and the
    /// certificate; needed only when neither says (never, with AMD-issued certificates).
    pub generation: Option<Generation>,
    /// CRL checking (off by default; see [`CrlCheck`]). The verifier's own mode
    /// ([`Verifier::with_crl_check`]) applies too: the stricter of the two wins.
    pub check_crl: CrlCheck,
    /// Expected REPORT_DATA (up to 64 bytes, zero-padded, compared in full).
    pub expected_report_data: Option<Vec<u8>>,
    /// Expected HOST_DATA (up to 32 bytes, zero-padded, compared in full).
    pub expected_host_data: Option<Vec<u8>>,
    /// Accept a VCEK-signed report whose CHIP_ID is masked (all zero). Off: such a report
    /// cannot be bound to the VCEK's hwID and is rejected.
    pub allow_masked_chip_id: bool,
}

impl Default for VerifyOptions {
    /// Verify at the current system time, everything else off.
    fn default() -> Self {
        VerifyOptions::at(SystemTime::now())
    }
}

impl VerifyOptions {
    /// Options with the given verification time and everything else off.
    pub fn at(time: SystemTime) -> Self {
        VerifyOptions {
            time,
            generation: None,
            check_crl: CrlCheck::Off,
            expected_report_data: None,
            expected_host_data: None,
            allow_masked_chip_id: false,
        }
    }
}

/// A report that passed every check. Only [`Verifier::verify`] builds one: the fields are
/// private, so holding a `VerifiedReport` is proof that the checks ran.
///
/// Forging one outside the crate does not compile:
///
/// ```compile_fail,E0451
/// fn forge(claims: remits_snp::SnpClaims) -> remits_snp::VerifiedReport {
///     remits_snp::VerifiedReport {
///         claims,
///         leaf_sha256: [0; 32],
///         ark_sha256: [0; 32],
///         amd_root: true,
///         chain_cached: false,
///     }
/// }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a verification result: use it (or bind it to `_` to drop it on purpose)"]
pub struct VerifiedReport {
    claims: SnpClaims,
    leaf_sha256: [u8; 32],
    ark_sha256: [u8; 32],
    amd_root: bool,
    chain_cached: bool,
}

impl VerifiedReport {
    /// The verified claims.
    pub fn claims(&self) -> &SnpClaims {
        &self.claims
    }
    /// The verified claims, by value.
    pub fn into_claims(self) -> SnpClaims {
        self.claims
    }
    /// SHA-256 of the leaf certificate DER.
    pub fn leaf_sha256(&self) -> &[u8; 32] {
        &self.leaf_sha256
    }
    /// SHA-256 of the ARK the chain ends in.
    pub fn ark_sha256(&self) -> &[u8; 32] {
        &self.ark_sha256
    }
    /// Whether the ARK is AMD's (built-in) rather than an explicitly added anchor.
    pub fn amd_root(&self) -> bool {
        self.amd_root
    }
    /// Whether the chain came from the verifier's cache.
    pub fn chain_cached(&self) -> bool {
        self.chain_cached
    }
}

/// A leaf whose chain verified once; reused while its validity window covers the time.
#[derive(Debug)]
struct TrustedLeaf {
    key: Box<dyn P384Key>,
    leaf: AmdCert,
    signer: Signer,
    generation: Generation,
    intermediate_role: CertRole,
    intermediate_serial: Vec<u8>,
    leaf_serial: Vec<u8>,
    ark_sha256: [u8; 32],
    amd_root: bool,
    /// Latest notBefore and earliest notAfter over ARK, intermediate and leaf.
    window: (SystemTime, SystemTime, CertRole),
    windows: Vec<(CertRole, SystemTime, SystemTime)>,
    inter: Arc<AmdCert>,
    ark: Arc<AmdCert>,
    /// The intermediate is the built-in one, so an empty supplied chain leads to this entry.
    inter_builtin: bool,
}

impl TrustedLeaf {
    /// Whether verifying with `chain` would build exactly this chain (so the cache answers the
    /// same as a fresh verification would): every supplied certificate is this chain's ARK or
    /// intermediate, and without a supplied intermediate the built-in one is this one.
    fn same_chain(&self, chain: &[Vec<u8>]) -> bool {
        let mut has_inter = false;
        for c in chain {
            if c.as_slice() == self.inter.der() {
                has_inter = true;
            } else if c.as_slice() != self.ark.der() {
                return false;
            }
        }
        has_inter || self.inter_builtin
    }
}

const CACHE_MAX: usize = 4096;

/// Verifies SEV-SNP reports. `Send + Sync`; caches verified chains by leaf DER hash.
#[derive(Debug)]
pub struct Verifier {
    anchors: TrustAnchors,
    backend: Arc<dyn SignatureBackend>,
    cache: RwLock<HashMap<[u8; 32], Arc<TrustedLeaf>>>,
    crls: CrlStore,
    crl_check: CrlCheck,
    crl_max_age: Option<Duration>,
}

fn mismatch(role: CertRole, reason: impl Into<String>) -> Error {
    Error::CertProfile {
        role,
        reason: reason.into(),
    }
}

fn padded<const N: usize>(field: &'static str, v: &[u8]) -> Result<[u8; N], Error> {
    if v.len() > N {
        return Err(Error::ExpectedTooLong {
            field,
            len: v.len(),
            max: N,
        });
    }
    let mut out = [0u8; N];
    if let Some(dst) = out.get_mut(..v.len()) {
        dst.copy_from_slice(v);
    }
    Ok(out)
}

impl Verifier {
    /// A verifier with the default backend (aws-lc with feature `aws-lc`, else RustCrypto).
    pub fn new(anchors: TrustAnchors) -> Self {
        Self::with_backend(anchors, default_backend())
    }

    /// A verifier with an explicit signature backend.
    pub fn with_backend(anchors: TrustAnchors, backend: Arc<dyn SignatureBackend>) -> Self {
        Verifier {
            anchors,
            backend,
            cache: RwLock::new(HashMap::new()),
            crls: CrlStore::default(),
            crl_check: CrlCheck::Off,
            crl_max_age: None,
        }
    }

    /// The minimum CRL mode of every verification by this verifier: the stricter of this and
    /// [`VerifyOptions::check_crl`] applies. Default [`CrlCheck::Off`].
    pub fn with_crl_check(mut self, mode: CrlCheck) -> Self {
        self.crl_check = mode;
        self
    }

    /// The maximum CRL age: a CRL whose thisUpdate is older than `max_age` at the verification
    /// time is stale, even if its nextUpdate is absent or later. Default: none (nextUpdate only).
    pub fn with_crl_max_age(mut self, max_age: Option<Duration>) -> Self {
        self.crl_max_age = max_age;
        self
    }

    /// The verifier's own CRL mode (see [`Verifier::with_crl_check`]).
    pub fn crl_check(&self) -> CrlCheck {
        self.crl_check
    }

    /// The held CRLs, by ARK and kind.
    pub fn crls(&self) -> Vec<CrlInfo> {
        self.crls.infos()
    }

    /// The backend's name.
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// Forget every cached chain.
    pub fn clear_cache(&self) {
        if let Ok(mut c) = self.cache.write() {
            c.clear();
        }
    }

    /// Add one of AMD's CRLs (DER): `kind` says which list it is (the VCEK CRL revokes ASKs,
    /// the VLEK CRL ASVKs; see [`CrlKind`]). It must be signed by a trusted ARK (RSASSA-PSS
    /// SHA-384, issuer = the ARK's subject), its thisUpdate must not be after `time`, and an
    /// issuing distribution point, if present, must name the same kind. It replaces an older
    /// CRL of the same ARK and kind (never the other kind); an older one than held is ignored.
    /// A stale CRL is kept too (its revocations count; fail-closed still wants a fresh one).
    ///
    /// # Errors
    ///
    /// [`Error::CrlInvalid`] when the CRL does not parse, is not signed by a trusted ARK, is from
    /// the future at `time` or names the other kind.
    pub fn add_crl(&self, der: &[u8], kind: CrlKind, time: SystemTime) -> Result<CrlInfo, Error> {
        self.crls
            .add(der, kind, time, &self.anchors, self.backend.as_ref())
    }

    /// Verify `report` (the raw 1184 bytes as received) with `endorsement`.
    ///
    /// # Errors
    ///
    /// The typed error of the first check that fails, in the order listed in the function:
    /// structure ([`Error::ReportLength`], [`Error::UnsupportedVersion`],
    /// [`Error::SignatureAlgo`]), the chain ([`Error::CertParse`], [`Error::CertProfile`],
    /// [`Error::UntrustedRoot`], [`Error::CertSignature`], [`Error::CertValidity`], CRL errors),
    /// the leaf ([`Error::LeafKind`], [`Error::TcbMismatch`], [`Error::ChipIdMismatch`]),
    /// [`Error::ReportSignature`], and the expected values ([`Error::ReportDataMismatch`]).
    #[must_use = "the verified report is the only trusted view of the evidence"]
    pub fn verify(
        &self,
        report: &[u8],
        endorsement: &Endorsement,
        opts: &VerifyOptions,
    ) -> Result<VerifiedReport, Error> {
        // 1. Structure.
        let r = Report::parse(report)?;
        if r.signature_algo() != 1 {
            return Err(Error::SignatureAlgo(r.signature_algo()));
        }
        let signer = r.key_info().signer()?;

        // 2-3. Chain (cached).
        let leaf_sha256: [u8; 32] = Sha256::digest(&endorsement.leaf).into();
        let cached = self
            .cache
            .read()
            .ok()
            .and_then(|c| c.get(&leaf_sha256).cloned())
            .filter(|t| t.same_chain(&endorsement.chain));
        let chain_cached = cached.is_some();
        let trusted = match cached {
            Some(t) => t,
            None => {
                let t = Arc::new(self.verify_chain(endorsement)?);
                if let Ok(mut c) = self.cache.write() {
                    if c.len() >= CACHE_MAX {
                        c.clear();
                    }
                    c.entry(leaf_sha256).or_insert_with(|| t.clone());
                }
                t
            }
        };

        if trusted.signer != signer {
            return Err(Error::LeafKind {
                report: signer,
                cert: trusted.signer.to_string(),
            });
        }

        // 4. Report signature over the received bytes, before any other field is looked at.
        let sig = r.signature_be()?;
        trusted
            .key
            .verify(r.signed_bytes(), &sig)
            .map_err(|_| Error::ReportSignature(signer))?;

        // 5. Validity.
        let (nb, na, _) = trusted.window;
        if opts.time < nb || opts.time > na {
            for (role, nb, na) in &trusted.windows {
                if opts.time < *nb || opts.time > *na {
                    return Err(Error::CertValidity {
                        role: *role,
                        time: crate::error::rfc3339(opts.time),
                        not_before: crate::error::rfc3339(*nb),
                        not_after: crate::error::rfc3339(*na),
                    });
                }
            }
        }

        // 6. CRL.
        let leaf_role = match signer {
            Signer::Vcek => CertRole::Vcek,
            Signer::Vlek => CertRole::Vlek,
        };
        self.crls.check(
            opts.check_crl.stricter(self.crl_check),
            self.crl_max_age,
            &trusted.ark_sha256,
            CrlKind::for_intermediate(trusted.intermediate_role),
            &[
                Subject {
                    role: trusted.intermediate_role,
                    serial: &trusted.intermediate_serial,
                    leaf: false,
                },
                Subject {
                    role: leaf_role,
                    serial: &trusted.leaf_serial,
                    leaf: true,
                },
            ],
            opts.time,
        )?;

        // 7. Generation.
        let generation = trusted.generation;
        if let Some(g) = opts.generation {
            if g != generation {
                return Err(Error::GenerationMismatch {
                    source_a: "caller",
                    a: g,
                    source_b: "certificate chain",
                    b: generation.to_string(),
                });
            }
        }
        if let Some(cpu) = r.cpuid_generation() {
            let cpu = cpu?;
            if cpu != generation {
                return Err(Error::GenerationMismatch {
                    source_a: "report CPUID",
                    a: cpu,
                    source_b: "certificate chain",
                    b: generation.to_string(),
                });
            }
        }

        // 8. REPORTED_TCB == SPLs.
        check_tcb(&r, &trusted.leaf, generation)?;

        // 9. CHIP_ID == hwID.
        if signer == Signer::Vcek {
            check_chip_id(&r, &trusted.leaf, generation, opts.allow_masked_chip_id)?;
        }

        // 10. Expected values.
        if let Some(exp) = &opts.expected_report_data {
            let want = padded::<64>("report_data", exp)?;
            if &want != r.report_data() {
                return Err(Error::ReportDataMismatch {
                    expected: hex::encode(want),
                    actual: hex::encode(r.report_data()),
                });
            }
        }
        if let Some(exp) = &opts.expected_host_data {
            let want = padded::<32>("host_data", exp)?;
            if &want != r.host_data() {
                return Err(Error::HostDataMismatch {
                    expected: hex::encode(want),
                    actual: hex::encode(r.host_data()),
                });
            }
        }

        let ext = trusted.leaf.amd_extensions();
        let claims = SnpClaims::from_report(
            &r,
            generation,
            signer,
            ext.product_name.clone().unwrap_or_default(),
            ext.csp_id.clone(),
        );
        Ok(VerifiedReport {
            claims,
            leaf_sha256,
            ark_sha256: trusted.ark_sha256,
            amd_root: trusted.amd_root,
            chain_cached,
        })
    }

    /// Verify the chain of `endorsement` alone (no report), returning nothing on success.
    /// Used for certificate-only vectors; results are not cached.
    ///
    /// # Errors
    ///
    /// The chain errors of [`Verifier::verify`], and [`Error::CertValidity`] when a certificate is
    /// not valid at `time`.
    pub fn verify_endorsement(
        &self,
        endorsement: &Endorsement,
        time: SystemTime,
    ) -> Result<(), Error> {
        let t = self.verify_chain(endorsement)?;
        for (role, nb, na) in &t.windows {
            if time < *nb || time > *na {
                return Err(Error::CertValidity {
                    role: *role,
                    time: crate::error::rfc3339(time),
                    not_before: crate::error::rfc3339(*nb),
                    not_after: crate::error::rfc3339(*na),
                });
            }
        }
        Ok(())
    }

    fn verify_chain(&self, e: &Endorsement) -> Result<TrustedLeaf, Error> {
        // Leaf.
        let leaf = AmdCert::from_der(&e.leaf, CertRole::Unknown)?;
        let (signer, leaf_role) = match leaf.subject_cn() {
            "SEV-VCEK" => (Signer::Vcek, CertRole::Vcek),
            "SEV-VLEK" => (Signer::Vlek, CertRole::Vlek),
            other => {
                return Err(mismatch(
                    CertRole::Unknown,
                    format!("leaf CN {other:?} is not SEV-VCEK or SEV-VLEK"),
                ))
            }
        };
        let PublicKey::P384(point) = leaf.public_key() else {
            return Err(mismatch(leaf_role, "public key is not EC P-384"));
        };
        let want_inter = if signer == Signer::Vcek {
            CertRole::Ask
        } else {
            CertRole::Asvk
        };
        let generation = match ca_generation(leaf.issuer_cn()) {
            Some((role, g)) if role == want_inter => g,
            _ => {
                return Err(mismatch(
                    leaf_role,
                    format!(
                        "issuer CN {:?} is not the {want_inter} of a supported generation",
                        leaf.issuer_cn()
                    ),
                ))
            }
        };
        check_leaf_extensions(&leaf, leaf_role, generation)?;

        // Supplied chain certificates, classified by CN.
        // Built-in intermediates are used only when the caller supplied none at all: a chain
        // with an ASK but no ASVK does not endorse a VLEK (and vice versa).
        let mut supplied_inter = None;
        let mut supplied_ark = None;
        let mut any_inter = false;
        for der in &e.chain {
            let c = AmdCert::from_der(der, CertRole::Unknown)?;
            match ca_generation(c.subject_cn()) {
                Some((role, g))
                    if role == want_inter
                        && g == generation
                        && c.subject_der() == leaf.issuer_der() =>
                {
                    any_inter = true;
                    supplied_inter = Some(Arc::new(c));
                }
                Some((CertRole::Ark, g)) if g == generation => supplied_ark = Some(Arc::new(c)),
                Some((CertRole::Ask | CertRole::Asvk, _)) => any_inter = true,
                _ => {} // another generation's ARK: not part of this chain
            }
        }

        let builtin_amd = self
            .anchors
            .anchors
            .iter()
            .find(|a| a.builtin && a.generation == generation);
        let inter = match supplied_inter {
            Some(c) => c,
            None if any_inter => return Err(Error::ChainIncomplete(want_inter)),
            None => builtin_amd
                .and_then(|a| {
                    if want_inter == CertRole::Ask {
                        a.ask.clone()
                    } else {
                        a.asvk.clone()
                    }
                })
                .ok_or(Error::ChainIncomplete(want_inter))?,
        };
        if !matches!(inter.public_key(), PublicKey::Rsa(_)) {
            return Err(mismatch(want_inter, "public key is not RSA"));
        }

        // Root candidates: the supplied ARK must be a trusted anchor.
        let candidates: Vec<&Anchor> = match &supplied_ark {
            Some(ark) => {
                let a = self
                    .anchors
                    .anchors
                    .iter()
                    .find(|a| a.ark.fingerprint() == ark.fingerprint())
                    .ok_or_else(|| Error::UntrustedRoot {
                        fingerprint: hex::encode(ark.fingerprint()),
                    })?;
                vec![a]
            }
            None => self
                .anchors
                .anchors
                .iter()
                .filter(|a| a.generation == generation && a.ark.subject_der() == inter.issuer_der())
                .collect(),
        };
        if candidates.is_empty() {
            return Err(Error::ChainIncomplete(CertRole::Ark));
        }

        let mut last_err = Error::ChainIncomplete(CertRole::Ark);
        for anchor in candidates {
            match self.verify_links(anchor, &inter, want_inter, &leaf, leaf_role) {
                Ok(()) => {
                    let key = self.backend.p384_key(point).map_err(|_| {
                        mismatch(leaf_role, "P-384 public key is not a valid point")
                    })?;
                    let windows = vec![
                        (
                            CertRole::Ark,
                            anchor.ark.not_before(),
                            anchor.ark.not_after(),
                        ),
                        (want_inter, inter.not_before(), inter.not_after()),
                        (leaf_role, leaf.not_before(), leaf.not_after()),
                    ];
                    let nb = windows
                        .iter()
                        .map(|w| w.1)
                        .max()
                        .unwrap_or(SystemTime::UNIX_EPOCH);
                    let na = windows
                        .iter()
                        .map(|w| w.2)
                        .min()
                        .unwrap_or(SystemTime::UNIX_EPOCH);
                    let builtin_inter = if want_inter == CertRole::Ask {
                        &anchor.ask
                    } else {
                        &anchor.asvk
                    };
                    let inter_builtin = anchor.builtin
                        && builtin_inter
                            .as_ref()
                            .is_some_and(|b| b.der() == inter.der());
                    return Ok(TrustedLeaf {
                        inter: inter.clone(),
                        ark: anchor.ark.clone(),
                        inter_builtin,
                        key,
                        signer,
                        generation,
                        intermediate_role: want_inter,
                        intermediate_serial: inter.serial().to_vec(),
                        leaf_serial: leaf.serial().to_vec(),
                        ark_sha256: *anchor.ark.fingerprint(),
                        amd_root: anchor.builtin,
                        window: (nb, na, leaf_role),
                        windows,
                        leaf,
                    });
                }
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    fn rsa_verify(
        &self,
        issuer: &AmdCert,
        subject: &AmdCert,
        s: CertRole,
        i: CertRole,
    ) -> Result<(), Error> {
        let PublicKey::Rsa(key) = issuer.public_key() else {
            return Err(mismatch(i, "public key is not RSA"));
        };
        if subject.issuer_der() != issuer.subject_der() {
            return Err(mismatch(
                s,
                format!("issuer name does not match the {i} subject"),
            ));
        }
        self.backend
            .verify_rsa_pss_sha384(key, subject.tbs_bytes(), subject.signature())
            .map_err(|_| Error::CertSignature {
                subject: s,
                issuer: i,
            })
    }

    fn verify_links(
        &self,
        anchor: &Anchor,
        inter: &AmdCert,
        inter_role: CertRole,
        leaf: &AmdCert,
        leaf_role: CertRole,
    ) -> Result<(), Error> {
        self.rsa_verify(&anchor.ark, &anchor.ark, CertRole::Ark, CertRole::Ark)?;
        self.rsa_verify(&anchor.ark, inter, inter_role, CertRole::Ark)?;
        self.rsa_verify(inter, leaf, leaf_role, inter_role)
    }
}

/// AMD extension profile of a VCEK/VLEK for its generation.
fn check_leaf_extensions(
    leaf: &AmdCert,
    role: CertRole,
    generation: Generation,
) -> Result<(), Error> {
    let ext = leaf.amd_extensions();
    match ext.struct_version {
        Some(v) if v == generation.struct_version() => {}
        Some(v) => {
            return Err(Error::GenerationMismatch {
                source_a: "issuer CN",
                a: generation,
                source_b: "structVersion",
                b: v.to_string(),
            })
        }
        None => return Err(mismatch(role, "structVersion extension missing")),
    }
    let name = ext
        .product_name
        .as_deref()
        .ok_or_else(|| mismatch(role, "productName extension missing"))?;
    if Generation::from_product_name(name) != Some(generation) {
        return Err(Error::GenerationMismatch {
            source_a: "issuer CN",
            a: generation,
            source_b: "productName",
            b: name.to_owned(),
        });
    }
    let mut required = vec![(1, "blSPL"), (2, "teeSPL"), (3, "snpSPL"), (8, "ucodeSPL")];
    if generation.has_fmc() {
        required.push((9, "fmcSPL"));
        if ext.spl.get(4).copied().flatten().is_some() {
            return Err(mismatch(
                role,
                "spl_4 extension present on a Turin certificate",
            ));
        }
    } else if ext.spl.get(9).copied().flatten().is_some() {
        return Err(mismatch(
            role,
            "fmcSPL extension present on a structVersion 0 certificate",
        ));
    }
    for (i, n) in required {
        if ext.spl.get(i).copied().flatten().is_none() {
            return Err(mismatch(role, format!("{n} extension missing")));
        }
    }
    match role {
        CertRole::Vcek => {
            if ext.csp_id.is_some() {
                return Err(mismatch(role, "a VCEK must not carry cspID"));
            }
            let want = if generation.has_fmc() { 8 } else { 64 };
            match leaf.hw_id(want) {
                Some(h) if h.len() == want => {}
                Some(h) => {
                    return Err(mismatch(
                        role,
                        format!("hwID is {} bytes, expected {want}", h.len()),
                    ))
                }
                None => return Err(mismatch(role, "hwID extension missing")),
            }
        }
        _ => {
            if ext.hw_id.is_some() {
                return Err(mismatch(role, "a VLEK must not carry hwID"));
            }
            if ext.csp_id.is_none() {
                return Err(mismatch(role, "cspID extension missing"));
            }
        }
    }
    Ok(())
}

/// REPORTED_TCB must equal the leaf's SPLs, byte for byte with the generation's layout.
fn check_tcb(r: &Report<'_>, leaf: &AmdCert, generation: Generation) -> Result<(), Error> {
    let spl = &leaf.amd_extensions().spl;
    let s = |i: usize| spl.get(i).copied().flatten().unwrap_or(0);
    let raw = r.reported_tcb_raw();
    // (byte index in TCB_VERSION, field name, SPL index)
    let layout: [(usize, &'static str, usize); 8] = if generation.has_fmc() {
        [
            (0, "fmc", 9),
            (1, "bootloader", 1),
            (2, "tee", 2),
            (3, "snp", 3),
            (4, "reserved[4] (spl_5)", 5),
            (5, "reserved[5] (spl_6)", 6),
            (6, "reserved[6] (spl_7)", 7),
            (7, "microcode", 8),
        ]
    } else {
        [
            (0, "bootloader", 1),
            (1, "tee", 2),
            (2, "reserved[2] (spl_4)", 4),
            (3, "reserved[3] (spl_5)", 5),
            (4, "reserved[4] (spl_6)", 6),
            (5, "reserved[5] (spl_7)", 7),
            (6, "snp", 3),
            (7, "microcode", 8),
        ]
    };
    for (byte, field, idx) in layout {
        let report = raw.get(byte).copied().unwrap_or(0);
        let cert = s(idx);
        if report != cert {
            return Err(Error::TcbMismatch {
                field,
                report,
                cert,
            });
        }
    }
    Ok(())
}

fn check_chip_id(
    r: &Report<'_>,
    leaf: &AmdCert,
    generation: Generation,
    allow_masked: bool,
) -> Result<(), Error> {
    let chip = r.chip_id();
    if allow_masked && chip.iter().all(|&b| b == 0) {
        return Ok(());
    }
    let n = if generation.has_fmc() { 8 } else { 64 };
    let hw = leaf.hw_id(n).unwrap_or_default();
    let (head, tail) = chip.split_at(n.min(64));
    if hw.as_slice() != head || tail.iter().any(|&b| b != 0) {
        return Err(Error::ChipIdMismatch {
            report: hex::encode(chip),
            cert: hex::encode(&hw),
        });
    }
    Ok(())
}
