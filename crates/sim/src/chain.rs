//! The simulator's trust chain: generation, storage on disk and loading.

use std::path::Path;
use std::time::SystemTime;

use p384::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::pss::SigningKey as PssSigningKey;
use serde::{Deserialize, Serialize};
use sha2::Sha384;
use spki::SubjectPublicKeyInfoOwned;
use zeroize::Zeroizing;

use crate::certs::{self, CertSpec};
use crate::crl::SimArk;
use crate::fsutil;
use crate::SimError;

/// File names inside a simulator chain directory.
pub mod files {
    /// The simulated AMD Root Key certificate (DER). Configure a verifier with it as an extra
    /// trust anchor to accept simulated reports.
    pub const ARK_DER: &str = "ark.der";
    /// The same ARK certificate in PEM.
    pub const ARK_PEM: &str = "ark.pem";
    /// The simulated AMD SEV Key certificate (DER), signed by the ARK.
    pub const ASK_DER: &str = "ask.der";
    /// The simulated VCEK certificate (DER), signed by the ASK.
    pub const VCEK_DER: &str = "vcek.der";
    /// The VCEK's P-384 private key (PKCS#8 PEM, mode 0600).
    pub const VCEK_KEY: &str = "vcek-key.pem";
    /// Platform parameters (generation, chip id, TCB) as JSON.
    pub const META: &str = "sim.json";
    /// A human-readable warning that nothing here comes from AMD.
    pub const README: &str = "README.txt";
}

/// A processor generation the simulator can pose as (both use VCEK structVersion 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SimGeneration {
    /// AMD EPYC 7003: ARK-Milan / SEV-Milan, product `Milan-B0`, CPUID family 19h model 01h.
    #[default]
    Milan,
    /// AMD EPYC 9004: ARK-Genoa / SEV-Genoa, product `Genoa`, CPUID family 19h model 11h.
    Genoa,
}

impl SimGeneration {
    /// The generation's name as used in certificate common names.
    pub fn name(self) -> &'static str {
        match self {
            SimGeneration::Milan => "Milan",
            SimGeneration::Genoa => "Genoa",
        }
    }

    /// The VCEK productName extension value.
    pub fn product_name(self) -> &'static str {
        match self {
            SimGeneration::Milan => "Milan-B0",
            SimGeneration::Genoa => "Genoa",
        }
    }

    /// (family, model, stepping) written to the report's CPUID fields.
    pub fn cpuid(self) -> (u8, u8, u8) {
        match self {
            SimGeneration::Milan => (0x19, 0x01, 0x01),
            SimGeneration::Genoa => (0x19, 0x11, 0x01),
        }
    }
}

/// A TCB_VERSION in the Milan/Genoa layout (security patch levels of each component).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimTcb {
    /// Boot loader SPL.
    pub bootloader: u8,
    /// PSP OS (TEE) SPL.
    pub tee: u8,
    /// SNP firmware SPL.
    pub snp: u8,
    /// CPU microcode SPL.
    pub microcode: u8,
}

impl Default for SimTcb {
    fn default() -> Self {
        // A plausible current Milan TCB.
        SimTcb {
            bootloader: 4,
            tee: 0,
            snp: 24,
            microcode: 219,
        }
    }
}

impl SimTcb {
    /// The 8-byte TCB_VERSION encoding (Milan/Genoa: bl, tee, 4 reserved, snp, ucode).
    pub fn to_bytes(self) -> [u8; 8] {
        [
            self.bootloader,
            self.tee,
            0,
            0,
            0,
            0,
            self.snp,
            self.microcode,
        ]
    }
}

/// How to generate a chain.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Certificates are valid from one hour before this time (ARK/ASK 25 years, VCEK 7 years).
    pub now: SystemTime,
    /// The generation to pose as.
    pub generation: SimGeneration,
    /// The TCB written into the VCEK's SPL extensions and every TCB field of the reports.
    pub tcb: SimTcb,
    /// RSA modulus size of the simulated ARK and ASK. AMD uses 4096; 2048 (the default) keeps
    /// generation well under a second. Verifiers must accept 2048..=4096.
    pub rsa_bits: usize,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            now: SystemTime::now(),
            generation: SimGeneration::Milan,
            tcb: SimTcb::default(),
            rsa_bits: 2048,
        }
    }
}

/// Platform parameters stored next to the certificates (`sim.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimMeta {
    /// Always `"remits simulator - NOT AMD"`.
    pub warning: String,
    /// The generation posed as.
    pub generation: SimGeneration,
    /// The TCB certified by the VCEK.
    pub tcb: SimTcb,
    /// The simulated CHIP_ID (equal to the VCEK's hwID), 64 bytes.
    #[serde(with = "remits_evidence::hexser")]
    pub chip_id: Vec<u8>,
}

/// A simulated AMD trust chain: ARK → ASK → VCEK, plus the VCEK's private key.
///
/// Only the VCEK key is kept: the ARK and ASK private keys are dropped after issuing, so nothing
/// else can ever be signed under this ARK ([`SimChain::generate_with_ark`] hands the ARK key to
/// its caller, for CRL tests; it is never written to disk).
pub struct SimChain {
    ark: Vec<u8>,
    ask: Vec<u8>,
    vcek: Vec<u8>,
    vcek_key: p384::ecdsa::SigningKey,
    /// The VCEK key prepared for aws-lc-rs on first use (feature `aws-lc`).
    #[cfg(feature = "aws-lc")]
    aws_key: std::sync::OnceLock<Option<aws_lc_rs::signature::EcdsaKeyPair>>,
    meta: SimMeta,
}

impl std::fmt::Debug for SimChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimChain")
            .field("meta", &self.meta)
            .field("vcek_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl SimChain {
    /// Generates a fresh Milan chain valid from now (see [`SimChain::generate_with`]).
    ///
    /// # Errors
    ///
    /// [`SimError::KeyGeneration`] or [`SimError::Certificate`] when a key or certificate cannot be
    /// made.
    pub fn generate(rng: &mut (impl rand::CryptoRng + rand::RngCore)) -> Result<Self, SimError> {
        Self::generate_with(rng, &SimOptions::default())
    }

    /// Generates ARK and ASK (RSA, `opts.rsa_bits`) and a P-384 VCEK, issues their certificates in
    /// AMD's profile with `O=remits simulator - NOT AMD`, and picks a random 64-byte chip id.
    ///
    /// # Errors
    ///
    /// [`SimError::KeyGeneration`] or [`SimError::Certificate`] when a key or certificate cannot be
    /// made.
    pub fn generate_with(
        rng: &mut (impl rand::CryptoRng + rand::RngCore),
        opts: &SimOptions,
    ) -> Result<Self, SimError> {
        Self::generate_with_ark(rng, opts).map(|(chain, _ark)| chain)
    }

    /// Like [`SimChain::generate_with`], and also returns the ARK's signing key as a [`SimArk`]
    /// (never written by [`SimChain::write_to`]), which signs CRLs in AMD's format for
    /// revocation tests.
    ///
    /// # Errors
    ///
    /// As [`SimChain::generate_with`].
    pub fn generate_with_ark(
        rng: &mut (impl rand::CryptoRng + rand::RngCore),
        opts: &SimOptions,
    ) -> Result<(Self, SimArk), SimError> {
        let gen = opts.generation;
        let ark_key =
            rsa::RsaPrivateKey::new(rng, opts.rsa_bits).map_err(|e| SimError::KeyGeneration {
                key: "ARK",
                reason: e.to_string(),
            })?;
        let ask_key =
            rsa::RsaPrivateKey::new(rng, opts.rsa_bits).map_err(|e| SimError::KeyGeneration {
                key: "ASK",
                reason: e.to_string(),
            })?;
        let vcek_key = p384::ecdsa::SigningKey::random(rng);
        let mut chip_id = [0u8; 64];
        rng.fill_bytes(&mut chip_id);

        let ark_spki = spki_of("ARK", &ark_key.to_public_key())?;
        let ask_spki = spki_of("ASK", &ask_key.to_public_key())?;
        let vcek_spki = spki_of("VCEK", vcek_key.verifying_key())?;
        let ark_name = certs::sim_name(&format!("ARK-{}", gen.name()), "ARK")?;
        let ask_name = certs::sim_name(&format!("SEV-{}", gen.name()), "ASK")?;
        let vcek_name = certs::sim_name("SEV-VCEK", "VCEK")?;
        let ark_signer = PssSigningKey::<Sha384>::new(ark_key);
        let ask_signer = PssSigningKey::<Sha384>::new(ask_key);

        let serial_base: u32 = match gen {
            SimGeneration::Milan => 0x10000,
            SimGeneration::Genoa => 0x20000,
        };
        let ark = certs::issue(
            CertSpec {
                which: "ARK",
                serial: serial_base,
                issuer: ark_name.clone(),
                subject: ark_name.clone(),
                validity: certs::validity("ARK", opts.now, 25)?,
                spki: ark_spki,
                extensions: certs::ca_extensions("ARK")?,
            },
            &ark_signer,
            rng,
        )?;
        let ask = certs::issue(
            CertSpec {
                which: "ASK",
                serial: serial_base + 1,
                issuer: ark_name.clone(),
                subject: ask_name.clone(),
                validity: certs::validity("ASK", opts.now, 25)?,
                spki: ask_spki,
                extensions: certs::ca_extensions("ASK")?,
            },
            &ark_signer,
            rng,
        )?;
        let vcek = certs::issue(
            CertSpec {
                which: "VCEK",
                serial: 0,
                issuer: ask_name,
                subject: vcek_name,
                validity: certs::validity("VCEK", opts.now, 7)?,
                spki: vcek_spki,
                extensions: certs::vcek_extensions(gen.product_name(), &opts.tcb, &chip_id)?,
            },
            &ask_signer,
            rng,
        )?;
        let chain = SimChain {
            ark,
            ask,
            vcek,
            vcek_key,
            #[cfg(feature = "aws-lc")]
            aws_key: std::sync::OnceLock::new(),
            meta: SimMeta {
                warning: certs::SIM_ORGANIZATION.to_string(),
                generation: gen,
                tcb: opts.tcb,
                chip_id: chip_id.to_vec(),
            },
        };
        Ok((chain, SimArk::new(ark_signer, ark_name, serial_base + 1)))
    }

    /// Writes the chain to `dir` (created with mode 0700 if missing): `ark.der`, `ark.pem`,
    /// `ask.der`, `vcek.der`, `vcek-key.pem` (0600), `sim.json` and a `README.txt` warning.
    /// Each file is written to a temporary name, synced and renamed, so readers never see a
    /// partial file.
    ///
    /// # Errors
    ///
    /// [`SimError::Io`] when the directory or a file cannot be created, written, synced or renamed;
    /// [`SimError::KeyGeneration`] when the key cannot be encoded.
    pub fn write_to(&self, dir: &Path) -> Result<(), SimError> {
        fsutil::create_private_dir(dir)?;
        let key_pem = self
            .vcek_key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| SimError::invalid(dir.join(files::VCEK_KEY), e.to_string()))?;
        let meta = serde_json::to_vec_pretty(&self.meta)
            .map_err(|e| SimError::invalid(dir.join(files::META), e.to_string()))?;
        let ark_pem = der_to_pem("CERTIFICATE", &self.ark);
        fsutil::write_atomic(&dir.join(files::ARK_DER), &self.ark, 0o644)?;
        fsutil::write_atomic(&dir.join(files::ARK_PEM), ark_pem.as_bytes(), 0o644)?;
        fsutil::write_atomic(&dir.join(files::ASK_DER), &self.ask, 0o644)?;
        fsutil::write_atomic(&dir.join(files::VCEK_DER), &self.vcek, 0o644)?;
        fsutil::write_atomic(&dir.join(files::VCEK_KEY), key_pem.as_bytes(), 0o600)?;
        fsutil::write_atomic(&dir.join(files::META), &meta, 0o644)?;
        fsutil::write_atomic(&dir.join(files::README), README.as_bytes(), 0o644)?;
        Ok(())
    }

    /// Loads a chain written by [`SimChain::write_to`] and checks that the VCEK certificate
    /// certifies the stored private key.
    ///
    /// # Errors
    ///
    /// [`SimError::Io`] when a file cannot be read, [`SimError::InvalidFile`] when one does not
    /// parse or the VCEK certificate does not certify the stored key.
    pub fn load(dir: &Path) -> Result<Self, SimError> {
        let read = |name: &str| -> Result<Vec<u8>, SimError> {
            let p = dir.join(name);
            fsutil::read_limited(&p, 64 * 1024)
        };
        let ark = read(files::ARK_DER)?;
        let ask = read(files::ASK_DER)?;
        let vcek = read(files::VCEK_DER)?;
        let key_path = dir.join(files::VCEK_KEY);
        let key_pem = Zeroizing::new(read(files::VCEK_KEY)?);
        let key_str = std::str::from_utf8(&key_pem)
            .map_err(|_| SimError::invalid(&key_path, "not UTF-8 PEM"))?;
        let vcek_key = p384::ecdsa::SigningKey::from_pkcs8_pem(key_str)
            .map_err(|e| SimError::invalid(&key_path, format!("not a PKCS#8 P-384 key: {e}")))?;
        let meta_path = dir.join(files::META);
        let meta: SimMeta = serde_json::from_slice(&read(files::META)?)
            .map_err(|e| SimError::invalid(&meta_path, e.to_string()))?;
        if meta.chip_id.len() != 64 {
            return Err(SimError::invalid(&meta_path, "chip_id must be 64 bytes"));
        }
        // The key must be the one the VCEK certifies.
        let cert = <x509_cert::Certificate as der::Decode>::from_der(&vcek)
            .map_err(|e| SimError::invalid(dir.join(files::VCEK_DER), e.to_string()))?;
        let cert_pub = cert
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        let key_pub = vcek_key.verifying_key().to_encoded_point(false);
        if cert_pub != key_pub.as_bytes() {
            return Err(SimError::invalid(
                &key_path,
                "private key does not match the public key of vcek.der",
            ));
        }
        Ok(SimChain {
            ark,
            ask,
            vcek,
            vcek_key,
            #[cfg(feature = "aws-lc")]
            aws_key: std::sync::OnceLock::new(),
            meta,
        })
    }

    /// The simulated ARK certificate (DER): the trust anchor a verifier must be given explicitly.
    pub fn ark_der(&self) -> &[u8] {
        &self.ark
    }

    /// The simulated ASK certificate (DER).
    pub fn ask_der(&self) -> &[u8] {
        &self.ask
    }

    /// The simulated VCEK certificate (DER).
    pub fn vcek_der(&self) -> &[u8] {
        &self.vcek
    }

    /// Generation, TCB and chip id of the simulated platform.
    pub fn meta(&self) -> &SimMeta {
        &self.meta
    }

    /// The VCEK with its chain (ASK, ARK) in the verifier's endorsement form.
    pub fn endorsement(&self) -> remits_snp::Endorsement {
        remits_snp::Endorsement {
            leaf: self.vcek.clone(),
            chain: vec![self.ask.clone(), self.ark.clone()],
        }
    }

    /// The VCEK's public key.
    #[cfg(test)]
    pub(crate) fn vcek_public(&self) -> p384::ecdsa::VerifyingKey {
        *self.vcek_key.verifying_key()
    }

    /// ECDSA P-384 / SHA-384 signature of `msg` under the VCEK key, as big-endian `r || s`:
    /// with aws-lc-rs when the `aws-lc` feature is on and `fast` is set, else with `p384`.
    pub(crate) fn sign_p384(&self, msg: &[u8], fast: bool) -> Result<[u8; 96], SimError> {
        #[cfg(feature = "aws-lc")]
        if fast {
            if let Some(pair) = self.aws_key.get_or_init(|| self.aws_key_pair()) {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                let sig = pair
                    .sign(&rng, msg)
                    .map_err(|e| SimError::Sign(e.to_string()))?;
                return <[u8; 96]>::try_from(sig.as_ref())
                    .map_err(|_| SimError::Sign("aws-lc-rs signature is not 96 bytes".into()));
            }
        }
        let _ = fast;
        use p384::ecdsa::signature::Signer as _;
        let sig: p384::ecdsa::Signature = self
            .vcek_key
            .try_sign(msg)
            .map_err(|e| SimError::Sign(e.to_string()))?;
        <[u8; 96]>::try_from(&sig.to_bytes()[..])
            .map_err(|_| SimError::Sign("p384 signature is not 96 bytes".into()))
    }

    #[cfg(feature = "aws-lc")]
    fn aws_key_pair(&self) -> Option<aws_lc_rs::signature::EcdsaKeyPair> {
        let public = self.vcek_key.verifying_key().to_encoded_point(false);
        let secret = zeroize::Zeroizing::new(self.vcek_key.to_bytes());
        aws_lc_rs::signature::EcdsaKeyPair::from_private_key_and_public_key(
            &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            &secret[..],
            public.as_bytes(),
        )
        .ok()
    }
}

fn spki_of(
    which: &'static str,
    key: &impl EncodePublicKey,
) -> Result<SubjectPublicKeyInfoOwned, SimError> {
    let der = key.to_public_key_der().map_err(|e| SimError::Certificate {
        cert: which,
        reason: e.to_string(),
    })?;
    <SubjectPublicKeyInfoOwned as der::Decode>::from_der(der.as_bytes()).map_err(|e| {
        SimError::Certificate {
            cert: which,
            reason: e.to_string(),
        }
    })
}

fn der_to_pem(label: &str, der: &[u8]) -> String {
    remits_codec::pem::encode(label, der)
}

const README: &str = "\
remits simulator - NOT AMD

These certificates and this key were generated by remits-sim for development and tests.
Nothing here was issued by AMD. Reports signed with vcek-key.pem are SIMULATED and prove nothing
about any hardware. A verifier accepts them only when ark.der/ark.pem is configured as an extra
trust anchor, which must never happen in production.
";
