//! A **simulated** SEV platform: generated ARK/ASK (RSA-2048, AMD format) and CEK/OCA/PEK/PDH
//! (P-384), and the firmware's side of LAUNCH_START, LAUNCH_MEASURE and LAUNCH_SECRET.
//!
//! For tests and development only. Its roots are not AMD's, so [`crate::PlatformChain::verify`]
//! rejects its chain; only [`crate::PlatformChain::verify_with_roots`] with roots the caller
//! chose to trust accepts it.

use p384::ecdsa::signature::hazmat::PrehashSigner;
use rand_core::CryptoRngCore;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::traits::PublicKeyParts;
use sha2::Digest;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::builtin::AmdRoots;
use crate::chain::PlatformChain;
use crate::error::{CertName, Error, Result};
use crate::kdf;
use crate::measurement::{
    compute_measure, packet_mac, LaunchMeasurement, PlatformBuild, SecretPacket,
};
use crate::session::{kek_kik, LaunchPolicy, SessionBlob, TransportKeys};
use crate::sev_cert::{algo, unsigned_cert, usage, SevCert};

/// A generated SEV platform and the private keys the real one keeps in its secure processor.
pub struct SimPlatform {
    ark: Vec<u8>,
    ask: Vec<u8>,
    chain: PlatformChain,
    pdh_secret: p384::SecretKey,
    build: PlatformBuild,
}

impl std::fmt::Debug for SimPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimPlatform")
            .field("build", &self.build)
            .finish_non_exhaustive()
    }
}

fn amd_cert(
    key_id: [u8; 16],
    certifying_id: [u8; 16],
    usage: u32,
    key: &rsa::RsaPublicKey,
    signer: &rsa::RsaPrivateKey,
    rng: &mut impl CryptoRngCore,
) -> Vec<u8> {
    let n = key.size();
    let mut out = Vec::with_capacity(0x40 + 3 * n);
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&key_id);
    out.extend_from_slice(&certifying_id);
    out.extend_from_slice(&usage.to_le_bytes());
    out.extend_from_slice(&[0u8; 16]);
    let bits = (n * 8) as u32;
    out.extend_from_slice(&bits.to_le_bytes());
    out.extend_from_slice(&bits.to_le_bytes());
    let mut e = key.e().to_bytes_le();
    e.resize(n, 0);
    out.extend_from_slice(&e);
    let mut m = key.n().to_bytes_le();
    m.resize(n, 0);
    out.extend_from_slice(&m);
    let sig = rsa_pss_sign_le(signer, &out, rng);
    out.extend_from_slice(&sig);
    out
}

fn rsa_pss_sign_le(key: &rsa::RsaPrivateKey, msg: &[u8], rng: &mut impl CryptoRngCore) -> Vec<u8> {
    let k = key.size();
    let sig = rsa::pss::BlindedSigningKey::<sha2::Sha256>::new(key.clone()).sign_with_rng(rng, msg);
    let mut v = sig.to_vec();
    // Left-pad to the key size (big-endian), then store little-endian.
    while v.len() < k {
        v.insert(0, 0);
    }
    v.reverse();
    v
}

/// The simulated firmware's API version, recorded in the certificates it issues.
const SIM_API: (u8, u8) = (0, 24);

fn sev_cert_body(usage_v: u32, algo_v: u32, key: &p384::PublicKey) -> Vec<u8> {
    unsigned_cert(usage_v, algo_v, key, SIM_API)
}

/// The part of a simulated certificate its signatures cover.
// in bounds: every simulated certificate comes from `unsigned_cert` (SEV_CERT_LEN bytes).
#[allow(clippy::indexing_slicing)]
fn signed_part(cert: &[u8]) -> &[u8] {
    &cert[..0x414]
}

// in bounds: `cert` is SEV_CERT_LEN (0x824) bytes, a slot ends at 0x61C + 8 + 0x200 = 0x824,
// and a signature is at most 0x200 bytes (RSA-4096).
#[allow(clippy::indexing_slicing)]
fn put_slot(cert: &mut [u8], slot: usize, usage_v: u32, algo_v: u32, sig_le: &[u8]) {
    let off = if slot == 0 { 0x414 } else { 0x61C };
    cert[off..off + 4].copy_from_slice(&usage_v.to_le_bytes());
    cert[off + 4..off + 8].copy_from_slice(&algo_v.to_le_bytes());
    cert[off + 8..off + 8 + 0x200].fill(0);
    cert[off + 8..off + 8 + sig_le.len()].copy_from_slice(sig_le);
}

fn ecdsa_sign_le(key: &p384::SecretKey, body: &[u8]) -> Result<Vec<u8>> {
    let digest = sha2::Sha256::digest(body);
    let sk = p384::ecdsa::SigningKey::from(key);
    let sig: p384::ecdsa::Signature = sk
        .sign_prehash(&digest)
        .map_err(|e| Error::KeyAgreement(format!("signing: {e}")))?;
    let (r, s) = sig.split_bytes();
    let mut out = [0u8; 144];
    for (d, b) in out[..72].iter_mut().zip(r.iter().rev()) {
        *d = *b;
    }
    for (d, b) in out[72..].iter_mut().zip(s.iter().rev()) {
        *d = *b;
    }
    Ok(out.to_vec())
}

impl SimPlatform {
    /// Generates a platform: ARK → ASK (RSA-2048, RSA-PSS SHA-256 as on Naples), CEK, OCA,
    /// PEK, PDH (P-384), every link signed; firmware API 0.24 build 15.
    ///
    /// # Errors
    ///
    /// [`Error::KeyAgreement`] when key generation or signing fails.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Result<Self> {
        let rsa_key = |rng: &mut _| {
            rsa::RsaPrivateKey::new(rng, 2048).map_err(|e| Error::KeyAgreement(e.to_string()))
        };
        let ark_key = rsa_key(rng)?;
        let ask_key = rsa_key(rng)?;
        let mut ark_id = [0u8; 16];
        let mut ask_id = [0u8; 16];
        rng.fill_bytes(&mut ark_id);
        rng.fill_bytes(&mut ask_id);
        let ark = amd_cert(ark_id, ark_id, 0, &ark_key.to_public_key(), &ark_key, rng);
        let ask = amd_cert(
            ask_id,
            ark_id,
            0x13,
            &ask_key.to_public_key(),
            &ark_key,
            rng,
        );

        let cek_k = p384::SecretKey::random(rng);
        let oca_k = p384::SecretKey::random(rng);
        let pek_k = p384::SecretKey::random(rng);
        let pdh_k = p384::SecretKey::random(rng);

        let mut cek = sev_cert_body(usage::CEK, algo::ECDSA_SHA256, &cek_k.public_key());
        let sig = rsa_pss_sign_le(&ask_key, signed_part(&cek), rng);
        put_slot(&mut cek, 0, usage::ASK, algo::RSA_PSS_SHA256, &sig);

        let mut oca = sev_cert_body(usage::OCA, algo::ECDSA_SHA256, &oca_k.public_key());
        let sig = ecdsa_sign_le(&oca_k, signed_part(&oca))?;
        put_slot(&mut oca, 0, usage::OCA, algo::ECDSA_SHA256, &sig);

        let mut pek = sev_cert_body(usage::PEK, algo::ECDSA_SHA256, &pek_k.public_key());
        let sig = ecdsa_sign_le(&oca_k, signed_part(&pek))?;
        put_slot(&mut pek, 0, usage::OCA, algo::ECDSA_SHA256, &sig);
        let sig = ecdsa_sign_le(&cek_k, signed_part(&pek))?;
        put_slot(&mut pek, 1, usage::CEK, algo::ECDSA_SHA256, &sig);

        let mut pdh = sev_cert_body(usage::PDH, algo::ECDH_SHA256, &pdh_k.public_key());
        let sig = ecdsa_sign_le(&pek_k, signed_part(&pdh))?;
        put_slot(&mut pdh, 0, usage::PEK, algo::ECDSA_SHA256, &sig);

        Ok(Self {
            ark,
            ask,
            chain: PlatformChain { cek, oca, pek, pdh },
            pdh_secret: pdh_k,
            build: PlatformBuild {
                api_major: SIM_API.0,
                api_minor: SIM_API.1,
                build: 15,
            },
        })
    }

    /// The generated ARK (AMD certificate format).
    pub fn ark(&self) -> &[u8] {
        &self.ark
    }

    /// The generated ASK (AMD certificate format).
    pub fn ask(&self) -> &[u8] {
        &self.ask
    }

    /// The platform chain, as `sevctl export` would give it.
    pub fn chain(&self) -> &PlatformChain {
        &self.chain
    }

    /// The simulated firmware's API version and build.
    pub fn build(&self) -> PlatformBuild {
        self.build
    }

    /// The generated ARK → ASK pair, verified — for a caller that chooses to trust it.
    ///
    /// # Errors
    ///
    /// As [`AmdRoots::verify`].
    pub fn roots(&self) -> Result<AmdRoots<'_>> {
        AmdRoots::verify(&self.ark, &self.ask, None)
    }

    /// What the firmware does on LAUNCH_START: agree Z with the GODH, derive KEK/KIK, check
    /// WRAP_MAC, unwrap TEK ‖ TIK and check POLICY_MAC.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] for a malformed GODH certificate or session, [`Error::KeyAgreement`] when
    /// ECDH fails, [`Error::MacMismatch`] when WRAP_MAC or POLICY_MAC does not verify.
    pub fn launch_start(
        &self,
        godh_cert: &[u8],
        session: &SessionBlob,
        policy: LaunchPolicy,
    ) -> Result<TransportKeys> {
        let godh = SevCert::parse(godh_cert, CertName::Godh)?;
        let shared = p384::ecdh::diffie_hellman(
            self.pdh_secret.to_nonzero_scalar(),
            godh.public_key().as_affine(),
        );
        let (kek, kik) = kek_kik(shared.raw_secret_bytes(), &session.nonce);
        let mac = kdf::hmac(&kik[..], &[&session.wrap_tk]);
        if !bool::from(mac.ct_eq(&session.wrap_mac)) {
            return Err(Error::MacMismatch { what: "WRAP_MAC" });
        }
        let mut tk = Zeroizing::new(session.wrap_tk);
        kdf::aes128_ctr(&kek, &session.wrap_iv, tk.as_mut());
        let keys = TransportKeys::from_bytes(&tk[..])?;
        let pmac = kdf::hmac(keys.tik(), &[&policy.to_le_bytes()]);
        if !bool::from(pmac.ct_eq(&session.policy_mac)) {
            return Err(Error::MacMismatch { what: "POLICY_MAC" });
        }
        Ok(keys)
    }

    /// What the firmware reports on LAUNCH_MEASURE for a guest whose memory hashes to
    /// `digest`.
    pub fn launch_measure(
        &self,
        keys: &TransportKeys,
        policy: LaunchPolicy,
        digest: &[u8; 32],
        rng: &mut impl CryptoRngCore,
    ) -> LaunchMeasurement {
        let mut mnonce = [0u8; 16];
        rng.fill_bytes(&mut mnonce);
        LaunchMeasurement {
            measure: compute_measure(keys, self.build, policy, digest, &mnonce),
            mnonce,
        }
    }

    /// What the firmware does on LAUNCH_SECRET: check the packet MAC (bound to the launch's
    /// MEASURE) and decrypt with the TEK — the bytes placed in guest memory.
    ///
    /// # Errors
    ///
    /// [`Error::MacMismatch`] when the packet MAC does not verify, [`Error::Invalid`] for a
    /// malformed packet.
    pub fn launch_secret(
        keys: &TransportKeys,
        m: &LaunchMeasurement,
        packet: &SecretPacket,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let flags = u32::from_le_bytes([
            packet.header[0],
            packet.header[1],
            packet.header[2],
            packet.header[3],
        ]);
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&packet.header[4..20]);
        let mac = packet_mac(keys.tik(), flags, &iv, &packet.ciphertext, &m.measure)?;
        if !bool::from(mac.ct_eq(&packet.header[20..])) {
            return Err(Error::MacMismatch {
                what: "secret packet",
            });
        }
        let mut plain = Zeroizing::new(packet.ciphertext.clone());
        kdf::aes128_ctr(keys.tek(), &iv, &mut plain);
        Ok(plain)
    }
}
