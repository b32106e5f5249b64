//! Quote verification, written as a checklist.
//!
//! [`verify_quote`] accepts a quote only when every check below passes, in this order:
//!
//! 0. **Key.** The attestation key is trusted by the caller (pinned, certified by an EK chain, or
//!    bound by Azure's SNP report). If it was given as TPM2B_PUBLIC it is a restricted signing
//!    key (fixedTPM, fixedParent, sensitiveDataOrigin, restricted, sign; not decrypt) — checked
//!    when the [`AttestationKey`] is built — and its scheme, if set, is the only one allowed.
//! 1. **Signature** over exactly the received TPMS_ATTEST bytes, with a scheme the key allows
//!    (RSASSA, RSAPSS with salt = digest length, ECDSA) and a hash on the allow-list
//!    (SHA-256, SHA-384, SHA-512).
//! 2. **Structure.** TPMS_ATTEST parses strictly: magic TPM_GENERATED_VALUE, type
//!    TPM_ST_ATTEST_QUOTE, no trailing bytes.
//! 3. **Nonce.** extraData equals the expected nonce, compared in constant time.
//! 4. **PCR selection.** The quoted TPML_PCR_SELECTION names exactly the PCRs supplied, bank
//!    by bank (no PCR missing, none extra).
//! 5. **PCR digest.** pcrDigest equals H_sig(values in selection order), H_sig being the
//!    signature's hash (not the bank's).
//!
//! Only then is a [`VerifiedQuote`] built; it cannot be constructed any other way.

use serde::Serialize;
use subtle::ConstantTimeEq;

use crate::attest::{Attest, QuoteInfo};
use crate::error::{hx, Error};
use crate::key::{AkDescription, AttestationKey};
use crate::pcr::PcrValues;
use crate::signature::Signature;

/// What to require of extraData.
#[derive(Debug, Clone, Copy)]
pub enum NonceCheck<'a> {
    /// extraData must equal these bytes exactly (constant-time comparison).
    Expected(&'a [u8]),
    /// Explicitly skip the freshness check (offline inspection only). Recorded in the claims.
    Unchecked,
}

/// A quote that passed every check of [`verify_quote`].
#[derive(Debug, Clone, Serialize)]
#[must_use = "a verification result: use it (or bind it to `_` to drop it on purpose)"]
pub struct VerifiedQuote {
    quote: QuoteInfo,
    signature: String,
    ak: AkDescription,
    nonce_checked: bool,
    pcrs: PcrValues,
}

impl VerifiedQuote {
    /// The quote's fields.
    pub fn quote(&self) -> &QuoteInfo {
        &self.quote
    }
    /// The scheme and hash that signed it ("rsassa-sha256").
    pub fn signature_scheme(&self) -> &str {
        &self.signature
    }
    /// The attestation key.
    pub fn ak(&self) -> &AkDescription {
        &self.ak
    }
    /// Whether extraData was compared with an expected nonce.
    pub fn nonce_checked(&self) -> bool {
        self.nonce_checked
    }
    /// The verified PCR values, exactly the quoted selection, per bank.
    pub fn pcrs(&self) -> &PcrValues {
        &self.pcrs
    }
}

/// Verify a TPM2_Quote. See the module documentation for the checks, in order.
///
/// * `attest`: the TPMS_ATTEST bytes exactly as the TPM produced them (`tpm2_quote -m`);
/// * `signature`: the parsed TPMT_SIGNATURE (`tpm2_quote -s`) or a wrapped raw signature;
/// * `ak`: the trusted attestation key;
/// * `pcrs`: the PCR values the quote is claimed to cover, per bank;
/// * `nonce`: the expected extraData.
///
/// # Errors
///
/// The typed error of the first check that fails, in the order of the module documentation: the
/// signature ([`AttestationKey::verify`]'s errors), structure ([`Error::Layout`],
/// [`Error::Invalid`]), [`Error::NonceMismatch`], [`Error::PcrSelectionMismatch`],
/// [`Error::PcrDigestMismatch`].
#[must_use = "the verified quote is the only trusted view of the evidence"]
pub fn verify_quote(
    attest: &[u8],
    signature: &Signature,
    ak: &AttestationKey,
    pcrs: &PcrValues,
    nonce: NonceCheck<'_>,
) -> Result<VerifiedQuote, Error> {
    // 1. Signature over the received bytes, scheme allowed by the key, hash allow-listed.
    ak.verify(attest, signature)?;
    // 2. Strict structure.
    let q = Attest::parse(attest)?;
    // 3. Nonce.
    let nonce_checked = match nonce {
        NonceCheck::Expected(expected) => {
            let actual = q.extra_data();
            if actual.len() != expected.len() || !bool::from(actual.ct_eq(expected)) {
                return Err(Error::NonceMismatch {
                    expected: hx(expected),
                    actual: hx(actual),
                });
            }
            true
        }
        NonceCheck::Unchecked => false,
    };
    // 4. Selection equality, bank by bank.
    let supplied = pcrs.selection();
    if !q.selection().same_pcrs(&supplied) {
        return Err(Error::PcrSelectionMismatch {
            quoted: q.selection().to_string(),
            supplied: supplied.to_string(),
        });
    }
    // 5. pcrDigest with the signing hash, values in the quote's selection order.
    let ordered = pcrs
        .ordered_by(q.selection())
        .ok_or_else(|| Error::PcrSelectionMismatch {
            quoted: q.selection().to_string(),
            supplied: supplied.to_string(),
        })?;
    let computed = signature.hash().hash_parts(ordered);
    if !bool::from(computed.as_slice().ct_eq(q.pcr_digest()))
        || computed.len() != q.pcr_digest().len()
    {
        return Err(Error::PcrDigestMismatch {
            quoted: hx(q.pcr_digest()),
            computed: hx(&computed),
        });
    }
    Ok(VerifiedQuote {
        quote: q.info(),
        signature: signature.describe(),
        ak: ak.describe(),
        nonce_checked,
        pcrs: pcrs.restricted_to(q.selection()),
    })
}
