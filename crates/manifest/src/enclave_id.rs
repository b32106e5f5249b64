//! The ENCLAVE ID (version 1): one SHA-256 over a domain-separated encoding of selected PCRs.
//!
//! ```text
//! enclave_id_v1 = SHA-256( "remits enclave id" || 0x00 || 0x01 (version)
//!                          || u16be 0x000B (TPM_ALG_SHA256) || u8 count
//!                          || for each selected PCR, ascending: u8 index || 32-byte value )
//! ```
//! with the selection [`PCRS_V1`] = 4, 5, 9, 15. PCR16 (the manifest signer) is deliberately not
//! part of it: re-signing the same software with a rotated key keeps its identity.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::events::Digest32;
use crate::Error;

/// Version of the ENCLAVE ID definition implemented here.
pub const VERSION: u8 = 1;
/// The PCRs (SHA-256 bank) covered by ENCLAVE ID v1, ascending.
pub const PCRS_V1: [u32; 4] = [4, 5, 9, 15];
const DOMAIN: &[u8] = b"remits enclave id\0";
const TPM_ALG_SHA256: u16 = 0x000B;

/// Computes ENCLAVE ID v1 from PCR values (e.g. quoted PCRs). Every PCR of [`PCRS_V1`] must be
/// present; others are ignored.
///
/// # Errors
///
/// [`Error::Manifest`] when a PCR of `PCRS_V1` is missing.
pub fn enclave_id_v1(pcrs: &BTreeMap<u32, Digest32>) -> Result<Digest32, Error> {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update([VERSION]);
    h.update(TPM_ALG_SHA256.to_be_bytes());
    h.update([PCRS_V1.len() as u8]);
    for idx in PCRS_V1 {
        let v = pcrs
            .get(&idx)
            .ok_or_else(|| Error::manifest("enclave_id", format!("PCR{idx} is missing")))?;
        h.update([idx as u8]);
        h.update(v);
    }
    Ok(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_every_selected_pcr_and_ignores_others() {
        let mut p: BTreeMap<u32, Digest32> = PCRS_V1.iter().map(|i| (*i, [*i as u8; 32])).collect();
        let a = enclave_id_v1(&p).unwrap();
        p.insert(16, [7; 32]);
        assert_eq!(enclave_id_v1(&p).unwrap(), a);
        p.insert(15, [0; 32]);
        assert_ne!(enclave_id_v1(&p).unwrap(), a);
        p.remove(&9);
        assert!(enclave_id_v1(&p).is_err());
    }
}
