//! The launch-measurement check (SEV API LAUNCH_MEASURE) and the launch-secret packet
//! (LAUNCH_SECRET) that only a verified launch may receive.

use base64::Engine;
use rand_core::CryptoRngCore;
use subtle::ConstantTimeEq;

use crate::error::{invalid, Error, Result};
use crate::kdf;
use crate::session::{LaunchPolicy, TransportKeys};

/// The platform firmware's API version and build, as `query-sev` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlatformBuild {
    /// API major version.
    pub api_major: u8,
    /// API minor version.
    pub api_minor: u8,
    /// Build id.
    pub build: u8,
}

/// QEMU's `query-sev-launch-measure` answer decoded: MEASURE ‖ MNONCE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchMeasurement {
    /// HMAC-SHA256 computed by the platform with the TIK.
    pub measure: [u8; 32],
    /// The platform's nonce.
    pub mnonce: [u8; 16],
}

impl LaunchMeasurement {
    /// Parses the 48 bytes MEASURE ‖ MNONCE.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] unless `b` is 48 bytes.
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        if b.len() != 48 {
            return Err(invalid(
                "launch measurement",
                format!("{} bytes, expected MEASURE ‖ MNONCE (48)", b.len()),
            ));
        }
        let mut m = Self {
            measure: [0; 32],
            mnonce: [0; 16],
        };
        // 48 bytes (checked above): the first 32 and the last 16.
        if let (Some(measure), Some(mnonce)) = (b.first_chunk::<32>(), b.last_chunk::<16>()) {
            (m.measure, m.mnonce) = (*measure, *mnonce);
        }
        Ok(m)
    }

    /// Parses QEMU's base64 `data` field.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] when `s` is not base64 of 48 bytes.
    pub fn from_b64(s: &str) -> Result<Self> {
        let b = base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|e| invalid("launch measurement", format!("not base64: {e}")))?;
        Self::from_bytes(&b)
    }

    /// The 48-byte form.
    pub fn to_bytes(&self) -> [u8; 48] {
        let mut out = [0u8; 48];
        out[..32].copy_from_slice(&self.measure);
        out[32..].copy_from_slice(&self.mnonce);
        out
    }

    /// Base64, as QEMU prints it.
    pub fn to_b64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.to_bytes())
    }
}

/// HMAC-SHA256(TIK, 0x04 ‖ API major ‖ API minor ‖ build ‖ policy ‖ digest ‖ MNONCE).
pub fn compute_measure(
    keys: &TransportKeys,
    build: PlatformBuild,
    policy: LaunchPolicy,
    digest: &[u8; 32],
    mnonce: &[u8; 16],
) -> [u8; 32] {
    kdf::hmac(
        keys.tik(),
        &[
            &[0x04],
            &[build.api_major, build.api_minor, build.build],
            &policy.to_le_bytes(),
            digest,
            mnonce,
        ],
    )
}

/// Checks the platform's measurement against the expected launch digest, in constant time.
/// Only a match yields a [`VerifiedLaunch`], the one value that can build a secret packet.
///
/// # Errors
///
/// [`Error::MeasurementMismatch`] when the measurement differs from the expected one.
#[must_use = "only the verified launch may build a secret packet"]
pub fn verify_measurement(
    keys: &TransportKeys,
    build: PlatformBuild,
    policy: LaunchPolicy,
    expected_digest: &[u8; 32],
    m: &LaunchMeasurement,
) -> Result<VerifiedLaunch> {
    let want = compute_measure(keys, build, policy, expected_digest, &m.mnonce);
    if !bool::from(want.ct_eq(&m.measure)) {
        return Err(Error::MeasurementMismatch);
    }
    Ok(VerifiedLaunch {
        keys: keys.clone(),
        measure: m.measure,
        build,
        policy,
        digest: *expected_digest,
    })
}

/// A launch whose measurement matched the expected digest under the session's TIK.
#[derive(Debug, Clone)]
#[must_use = "a verification result: use it (or bind it to `_` to drop it on purpose)"]
pub struct VerifiedLaunch {
    keys: TransportKeys,
    measure: [u8; 32],
    build: PlatformBuild,
    policy: LaunchPolicy,
    digest: [u8; 32],
}

/// The LAUNCH_SECRET packet header: FLAGS ‖ IV ‖ MAC (52 bytes).
pub const PACKET_HEADER_LEN: usize = 52;

/// What QEMU's `sev-inject-launch-secret` takes: `packet-header` and `secret` (base64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretPacket {
    /// FLAGS (u32 LE, 0) ‖ IV ‖ MAC.
    pub header: [u8; PACKET_HEADER_LEN],
    /// The secret table encrypted with the TEK.
    pub ciphertext: Vec<u8>,
}

impl SecretPacket {
    /// Base64 of the header (`packet-header`).
    pub fn header_b64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.header)
    }

    /// Base64 of the encrypted secret (`secret`).
    pub fn secret_b64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.ciphertext)
    }
}

/// MAC of a secret packet: HMAC-SHA256(TIK, 0x01 ‖ FLAGS ‖ IV ‖ GUEST_LENGTH ‖ TRANS_LENGTH ‖
/// ciphertext ‖ MEASURE).
pub(crate) fn packet_mac(
    tik: &[u8],
    flags: u32,
    iv: &[u8; 16],
    ciphertext: &[u8],
    measure: &[u8; 32],
) -> Result<[u8; 32]> {
    let len = u32::try_from(ciphertext.len())
        .map_err(|_| invalid("secret", "longer than 4 GiB"))?
        .to_le_bytes();
    Ok(kdf::hmac(
        tik,
        &[
            &[0x01],
            &flags.to_le_bytes(),
            iv,
            &len,
            &len,
            ciphertext,
            measure,
        ],
    ))
}

impl VerifiedLaunch {
    /// The platform build the measurement was made on.
    pub fn build(&self) -> PlatformBuild {
        self.build
    }

    /// The guest policy of the session.
    pub fn policy(&self) -> LaunchPolicy {
        self.policy
    }

    /// The launch digest that matched.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// Encrypts `secret` (normally an EFI secret table, see [`crate::table`]) with the TEK
    /// under a fresh IV and MACs it with the TIK, bound to this launch's MEASURE.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] when `secret` is too large for the packet MAC (its length must fit 32
    /// bits).
    pub fn secret_packet(
        &self,
        secret: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<SecretPacket> {
        let mut iv = [0u8; 16];
        rng.fill_bytes(&mut iv);
        let mut ciphertext = secret.to_vec();
        kdf::aes128_ctr(self.keys.tek(), &iv, &mut ciphertext);
        let flags = 0u32;
        let mac = packet_mac(self.keys.tik(), flags, &iv, &ciphertext, &self.measure)?;
        let mut header = [0u8; PACKET_HEADER_LEN];
        header[..4].copy_from_slice(&flags.to_le_bytes());
        header[4..20].copy_from_slice(&iv);
        header[20..].copy_from_slice(&mac);
        Ok(SecretPacket { header, ciphertext })
    }
}
