//! The SEV API's key derivation (NIST SP 800-108 counter mode with HMAC-SHA256) and MACs.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 over the concatenation of `parts`. The key is laid into one 64-byte block
/// (zero-padded; hashed first if longer), exactly as RFC 2104 prescribes, so no length can
/// fail.
pub(crate) fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use sha2::Digest;
    let mut block = Zeroizing::new([0u8; 64]);
    let hashed: [u8; 32];
    let key = if key.len() > 64 {
        hashed = Sha256::digest(key).into();
        &hashed[..]
    } else {
        key
    };
    for (d, s) in block.iter_mut().zip(key) {
        *d = *s;
    }
    let mut mac = <HmacSha256 as hmac::digest::KeyInit>::new(block.as_ref().into());
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// KDF in counter mode: for i = 1.. : HMAC(key, i (u32 LE) ‖ label ‖ 0x00 ‖ context ‖
/// L (u32 LE, bits)), concatenated and truncated to `N` bytes.
pub(crate) fn derive<const N: usize>(
    key: &[u8],
    label: &str,
    context: &[u8],
) -> Zeroizing<[u8; N]> {
    let mut out = Zeroizing::new([0u8; N]);
    let bits = ((N * 8) as u32).to_le_bytes();
    for (i, chunk) in out.chunks_mut(32).enumerate() {
        let ctr = (i as u32 + 1).to_le_bytes();
        let block = Zeroizing::new(hmac(key, &[&ctr, label.as_bytes(), &[0u8], context, &bits]));
        for (d, s) in chunk.iter_mut().zip(block.iter()) {
            *d = *s;
        }
    }
    out
}

/// AES-128-CTR with a 128-bit big-endian counter block (the SEV API's mode), in place.
pub(crate) fn aes128_ctr(key: &[u8; 16], iv: &[u8; 16], data: &mut [u8]) {
    use ctr::cipher::{KeyIvInit, StreamCipher};
    let mut c = ctr::Ctr128BE::<aes::Aes128>::new(key.into(), iv.into());
    c.apply_keystream(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kdf_counter_mode_matches_its_definition() {
        // Recompute the first block by hand for a 16-byte output.
        let key = [7u8; 48];
        let got = derive::<16>(&key, "sev-master-secret", &[1u8; 16]);
        let want = hmac(
            &key,
            &[
                &1u32.to_le_bytes(),
                b"sev-master-secret",
                &[0],
                &[1u8; 16],
                &128u32.to_le_bytes(),
            ],
        );
        assert_eq!(&got[..], &want[..16]);
        // 40 bytes take two blocks, the second with counter 2.
        let long = derive::<40>(&key, "x", &[]);
        let b2 = hmac(
            &key,
            &[&2u32.to_le_bytes(), b"x", &[0], &[], &320u32.to_le_bytes()],
        );
        assert_eq!(&long[32..], &b2[..8]);
    }

    #[test]
    fn ctr_round_trips_and_differs_by_iv() {
        let key = [1u8; 16];
        let mut a = *b"thirty-two bytes of secret data!";
        aes128_ctr(&key, &[0u8; 16], &mut a);
        let mut b = *b"thirty-two bytes of secret data!";
        aes128_ctr(&key, &[1u8; 16], &mut b);
        assert_ne!(a, b);
        aes128_ctr(&key, &[0u8; 16], &mut a);
        assert_eq!(&a, b"thirty-two bytes of secret data!");
    }
}
