//! RSASSA-PSS verification of AMD's little-endian signatures (salt length = hash length).

use rsa::signature::Verifier;
use rsa::traits::PublicKeyParts;
use rsa::RsaPublicKey;

/// The PSS hash (and MGF1 hash).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Hash {
    Sha256,
    Sha384,
}

/// Verifies a signature stored little-endian in `sig_le`, which may be a wider slot than the
/// key: the bytes above the key size must be zero.
pub(crate) fn verify_le(
    key: &RsaPublicKey,
    hash: Hash,
    msg: &[u8],
    sig_le: &[u8],
) -> Result<(), String> {
    let k = key.size();
    let (low, high) = sig_le
        .split_at_checked(k)
        .ok_or_else(|| format!("signature of {} bytes for a {}-byte key", sig_le.len(), k))?;
    if high.iter().any(|&b| b != 0) {
        return Err(format!(
            "signature wider than the {}-bit key (non-zero bytes above it)",
            k * 8
        ));
    }
    let mut be = low.to_vec();
    be.reverse();
    let sig = rsa::pss::Signature::try_from(be.as_slice()).map_err(|e| e.to_string())?;
    let ok = match hash {
        Hash::Sha256 => rsa::pss::VerifyingKey::<sha2::Sha256>::new(key.clone()).verify(msg, &sig),
        Hash::Sha384 => rsa::pss::VerifyingKey::<sha2::Sha384>::new(key.clone()).verify(msg, &sig),
    };
    ok.map_err(|_| format!("RSA-PSS {hash:?} signature is not valid"))
}
