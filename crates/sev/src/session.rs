//! The guest owner's launch session (SEV API LAUNCH_START): a fresh P-384 Diffie-Hellman key
//! (GODH) agreed with the verified PDH, the master secret and KEK/KIK derived from it, and the
//! transport keys TEK/TIK wrapped for the platform.

use base64::Engine;
use rand_core::CryptoRngCore;
use zeroize::{Zeroize, Zeroizing};

use crate::chain::VerifiedPlatform;
use crate::error::{invalid, Error, Result};
use crate::kdf;
use crate::sev_cert::godh_cert;

/// The guest policy (SEV API "Guest Policy"), a little-endian u32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct LaunchPolicy(pub u32);

impl LaunchPolicy {
    /// Bit 0: debugging the guest is forbidden.
    pub fn no_debug(self) -> bool {
        self.0 & 1 != 0
    }
    /// Bit 1: sharing keys with other guests is forbidden.
    pub fn no_key_sharing(self) -> bool {
        self.0 & (1 << 1) != 0
    }
    /// Bit 2: SEV-ES is required.
    pub fn es(self) -> bool {
        self.0 & (1 << 2) != 0
    }
    /// Bit 3: sending the guest to another platform is forbidden.
    pub fn no_send(self) -> bool {
        self.0 & (1 << 3) != 0
    }
    /// Bit 4: the guest may only be sent within the domain.
    pub fn domain(self) -> bool {
        self.0 & (1 << 4) != 0
    }
    /// Bit 5: the guest may only be sent to platforms supporting SEV.
    pub fn sev_only(self) -> bool {
        self.0 & (1 << 5) != 0
    }
    /// Bits 23:16: minimum firmware API major version.
    pub fn api_major(self) -> u8 {
        (self.0 >> 16) as u8
    }
    /// Bits 31:24: minimum firmware API minor version.
    pub fn api_minor(self) -> u8 {
        (self.0 >> 24) as u8
    }
    /// Bits 15:6: reserved, must be zero.
    pub fn reserved_bits(self) -> u32 {
        self.0 & 0x0000_ffc0
    }
    /// The four bytes that are MACed.
    pub fn to_le_bytes(self) -> [u8; 4] {
        self.0.to_le_bytes()
    }
}

/// TEK (encryption) and TIK (integrity): the session's transport keys. Zeroized on drop,
/// never printed.
#[derive(Clone)]
pub struct TransportKeys {
    tek: Zeroizing<[u8; 16]>,
    tik: Zeroizing<[u8; 16]>,
}

impl std::fmt::Debug for TransportKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TransportKeys(<redacted>)")
    }
}

impl TransportKeys {
    /// Fresh random keys.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut tek = Zeroizing::new([0u8; 16]);
        let mut tik = Zeroizing::new([0u8; 16]);
        rng.fill_bytes(tek.as_mut());
        rng.fill_bytes(tik.as_mut());
        Self { tek, tik }
    }

    /// Restores keys kept between the session and measurement steps (TEK ‖ TIK, 32 bytes).
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] unless `tek_tik` is 32 bytes.
    pub fn from_bytes(tek_tik: &[u8]) -> Result<Self> {
        if tek_tik.len() != 32 {
            return Err(invalid(
                "transport keys",
                format!("{} bytes, expected TEK ‖ TIK (32)", tek_tik.len()),
            ));
        }
        let mut tek = Zeroizing::new([0u8; 16]);
        let mut tik = Zeroizing::new([0u8; 16]);
        // 32 bytes (checked above): the first 16 and the last 16.
        if let (Some(a), Some(b)) = (tek_tik.first_chunk::<16>(), tek_tik.last_chunk::<16>()) {
            (*tek, *tik) = (*a, *b);
        }
        Ok(Self { tek, tik })
    }

    /// TEK ‖ TIK, to be sealed while a session waits for its measurement.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new([&self.tek[..], &self.tik[..]].concat())
    }

    pub(crate) fn tek(&self) -> &[u8; 16] {
        &self.tek
    }

    pub(crate) fn tik(&self) -> &[u8; 16] {
        &self.tik
    }
}

/// The LAUNCH_START session buffer (QEMU's `session-file`): NONCE ‖ WRAP_TK ‖ WRAP_IV ‖
/// WRAP_MAC ‖ POLICY_MAC, 128 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionBlob {
    /// Nonce for the master-secret derivation.
    pub nonce: [u8; 16],
    /// TEK ‖ TIK encrypted under KEK (AES-128-CTR).
    pub wrap_tk: [u8; 32],
    /// IV of that encryption.
    pub wrap_iv: [u8; 16],
    /// HMAC-SHA256(KIK, WRAP_TK).
    pub wrap_mac: [u8; 32],
    /// HMAC-SHA256(TIK, policy).
    pub policy_mac: [u8; 32],
}

/// Size of [`SessionBlob`] on the wire.
pub const SESSION_BLOB_LEN: usize = 128;

impl SessionBlob {
    /// The 128-byte wire form.
    pub fn to_bytes(&self) -> [u8; SESSION_BLOB_LEN] {
        let mut out = [0u8; SESSION_BLOB_LEN];
        out[..16].copy_from_slice(&self.nonce);
        out[16..48].copy_from_slice(&self.wrap_tk);
        out[48..64].copy_from_slice(&self.wrap_iv);
        out[64..96].copy_from_slice(&self.wrap_mac);
        out[96..].copy_from_slice(&self.policy_mac);
        out
    }

    /// Parses the 128-byte wire form.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] unless `b` is 128 bytes.
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        if b.len() != SESSION_BLOB_LEN {
            return Err(invalid(
                "session blob",
                format!("{} bytes, expected {SESSION_BLOB_LEN}", b.len()),
            ));
        }
        let mut s = Self {
            nonce: [0; 16],
            wrap_tk: [0; 32],
            wrap_iv: [0; 16],
            wrap_mac: [0; 32],
            policy_mac: [0; 32],
        };
        let Ok(b) = <&[u8; SESSION_BLOB_LEN]>::try_from(b) else {
            return Err(invalid("session blob", "not 128 bytes"));
        };
        s.nonce.copy_from_slice(&b[..16]);
        s.wrap_tk.copy_from_slice(&b[16..48]);
        s.wrap_iv.copy_from_slice(&b[48..64]);
        s.wrap_mac.copy_from_slice(&b[64..96]);
        s.policy_mac.copy_from_slice(&b[96..]);
        Ok(s)
    }
}

/// What the hypervisor needs to start the launch: QEMU `sev-guest` object's `policy`,
/// `dh-cert-file` (GODH certificate, base64) and `session-file` (session blob, base64).
#[derive(Debug, Clone)]
pub struct LaunchStart {
    /// Guest policy.
    pub policy: LaunchPolicy,
    /// The guest owner's DH certificate (0x824 bytes, SEV certificate format).
    pub godh_cert: Vec<u8>,
    /// The session blob.
    pub session: SessionBlob,
}

impl LaunchStart {
    /// Base64 of the GODH certificate, as QEMU reads `dh-cert-file`.
    pub fn godh_b64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.godh_cert)
    }

    /// Base64 of the session blob, as QEMU reads `session-file`.
    pub fn session_b64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.session.to_bytes())
    }
}

/// KEK and KIK from the ECDH shared secret `z` and the nonce.
pub(crate) fn kek_kik(z: &[u8], nonce: &[u8; 16]) -> (Zeroizing<[u8; 16]>, Zeroizing<[u8; 16]>) {
    let master = kdf::derive::<16>(z, "sev-master-secret", nonce);
    let kek = kdf::derive::<16>(&master[..], "sev-kek", &[]);
    let kik = kdf::derive::<16>(&master[..], "sev-kik", &[]);
    (kek, kik)
}

/// Starts a launch session with a verified platform: generates the GODH key and the transport
/// keys, wraps TEK ‖ TIK for the platform and MACs the policy. Returns what the hypervisor
/// needs and the transport keys, which the caller keeps secret until the measurement check.
///
/// # Errors
///
/// [`Error::KeyAgreement`] when the platform's PDH key cannot be used for ECDH.
pub fn start_session(
    platform: &VerifiedPlatform,
    policy: LaunchPolicy,
    rng: &mut impl CryptoRngCore,
) -> Result<(LaunchStart, TransportKeys)> {
    if policy.reserved_bits() != 0 {
        return Err(invalid(
            "policy",
            format!("{:#010x} sets reserved bits 15:6", policy.0),
        ));
    }
    let keys = TransportKeys::generate(rng);
    let godh = p384::ecdh::EphemeralSecret::random(rng);
    let godh_pub = godh.public_key();
    let shared = godh.diffie_hellman(platform.pdh());
    let z = Zeroizing::new(shared.raw_secret_bytes().to_vec());
    let mut nonce = [0u8; 16];
    let mut iv = [0u8; 16];
    rng.fill_bytes(&mut nonce);
    rng.fill_bytes(&mut iv);
    let session = wrap(&keys, &z, nonce, iv, policy);
    if godh_pub == *platform.pdh() {
        return Err(Error::KeyAgreement("GODH equals the PDH".into()));
    }
    Ok((
        LaunchStart {
            policy,
            godh_cert: godh_cert(&godh_pub),
            session,
        },
        keys,
    ))
}

/// Wraps TEK ‖ TIK under KEK and computes both MACs.
pub(crate) fn wrap(
    keys: &TransportKeys,
    z: &[u8],
    nonce: [u8; 16],
    iv: [u8; 16],
    policy: LaunchPolicy,
) -> SessionBlob {
    let (kek, kik) = kek_kik(z, &nonce);
    let mut wrap_tk = Zeroizing::new([0u8; 32]);
    let w: &mut [u8; 32] = &mut wrap_tk;
    w[..16].copy_from_slice(keys.tek());
    w[16..].copy_from_slice(keys.tik());
    kdf::aes128_ctr(&kek, &iv, wrap_tk.as_mut());
    let wrap_mac = kdf::hmac(&kik[..], &[&wrap_tk[..]]);
    let policy_mac = kdf::hmac(keys.tik(), &[&policy.to_le_bytes()]);
    let mut out = [0u8; 32];
    out.copy_from_slice(&wrap_tk[..]);
    wrap_tk.zeroize();
    SessionBlob {
        nonce,
        wrap_tk: out,
        wrap_iv: iv,
        wrap_mac,
        policy_mac,
    }
}
