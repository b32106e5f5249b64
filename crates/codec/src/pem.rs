//! PEM (RFC 7468) to DER and back, on top of the `pem-rfc7468` crate (the one `der` uses).
//!
//! Each block is decoded with RFC 7468's **strict** grammar: `-----BEGIN LABEL-----`, Base64
//! wrapped at 64 columns (the last line shorter), `-----END LABEL-----` with the same label, no
//! RFC 1421 headers (`Proc-Type:` ...). OpenSSL, AMD's KDS, Azure IMDS and every tool remits
//! meets write that form.
//!
//! # Bundles
//! [`split_bundle`] splits a text holding several blocks, as a certificate chain file does:
//! - a block starts at each `-----BEGIN ` and ends at the first `-----END LABEL-----` after it;
//! - text before, between and after blocks is ignored (OpenSSL's `subject=` / `issuer=` lines);
//! - rejected: a block without that END line ([`PemError::Unterminated`]), a block whose label
//!   is not the expected one ([`PemError::Label`]; a private key pasted into a certificate bundle
//!   is an error, not skipped), a block that is not strict RFC 7468 ([`PemError::Decode`]), and
//!   more than `max` blocks ([`PemError::TooMany`], checked before the extra block is decoded);
//! - no block at all is **not** an error here: the result is empty and the caller decides.
//!
//! The blocks are returned in the order they appear; nothing is sorted or deduplicated (chain
//! order and roles are the caller's business).

/// Why PEM text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    /// A block is not strict RFC 7468 PEM (boundaries, Base64, line width, headers).
    #[error("PEM block {index}: {reason}")]
    Decode {
        /// 0-based index of the block in the text.
        index: usize,
        /// What `pem-rfc7468` reported.
        reason: String,
    },
    /// A block has another label than the one expected.
    #[error("PEM block {index}: label {found:?} is not {expected}")]
    Label {
        /// 0-based index of the block in the text.
        index: usize,
        /// The label expected.
        expected: String,
        /// The label found.
        found: String,
    },
    /// A `-----BEGIN ` without the matching `-----END LABEL-----`.
    #[error("PEM block {index}: no -----END {label}----- line")]
    Unterminated {
        /// 0-based index of the block in the text.
        index: usize,
        /// The label expected.
        label: String,
    },
    /// More blocks than allowed.
    #[error("more than {max} PEM blocks")]
    TooMany {
        /// The most blocks accepted.
        max: usize,
    },
}

/// Decodes one PEM block (the whole of `pem`, surrounding whitespace ignored) labelled `label`.
///
/// # Errors
///
/// [`PemError`] when `pem` is not one strict RFC 7468 block labelled `label`.
pub fn decode(pem: &str, label: &str) -> Result<Vec<u8>, PemError> {
    decode_at(pem.trim(), label, 0)
}

fn decode_at(block: &str, label: &str, index: usize) -> Result<Vec<u8>, PemError> {
    let (found, der) = pem_rfc7468::decode_vec(block.as_bytes()).map_err(|e| PemError::Decode {
        index,
        reason: e.to_string(),
    })?;
    if found != label {
        return Err(PemError::Label {
            index,
            expected: label.to_owned(),
            found: found.to_owned(),
        });
    }
    Ok(der)
}

/// Splits `text` into the DER of its PEM blocks, each labelled `label`, at most `max` of them
/// (see the [module documentation](self) for what is ignored and what is rejected).
///
/// # Errors
///
/// [`PemError`] for an unterminated block, another label, bad base64 or more than `max` blocks.
pub fn split_bundle(text: &str, label: &str, max: usize) -> Result<Vec<Vec<u8>>, PemError> {
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let index = out.len();
        if index >= max {
            return Err(PemError::TooMany { max });
        }
        let tail = rest.get(start..).unwrap_or_default();
        let Some(stop) = tail.find(&end).map(|i| i + end.len()) else {
            return Err(PemError::Unterminated {
                index,
                label: label.to_owned(),
            });
        };
        out.push(decode_at(
            tail.get(..stop).unwrap_or_default(),
            label,
            index,
        )?);
        rest = tail.get(stop..).unwrap_or_default();
    }
    Ok(out)
}

/// Encodes `der` as one PEM block labelled `label`, 64-column Base64, LF line endings.
///
/// # Panics
/// Never for labels remits uses (`CERTIFICATE`, `X509 CRL`, `PUBLIC KEY`, ...): only a label
/// that is not valid RFC 7468 (leading or trailing space or hyphen) fails to encode.
pub fn encode(label: &str, der: &[u8]) -> String {
    match pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der) {
        Ok(s) => s,
        Err(e) => panic!("PEM label {label:?}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_round_trip_and_refusals() {
        let a = encode("CERTIFICATE", &[0x30, 0x03, 1, 2, 3]);
        let b = encode("CERTIFICATE", &[0x30; 100]);
        let bundle = format!("subject=CN=a\n{a}\nissuer=x\n{b}trailing words\n");
        let got = split_bundle(&bundle, "CERTIFICATE", 2).unwrap();
        assert_eq!(got, vec![vec![0x30, 0x03, 1, 2, 3], vec![0x30; 100]]);
        assert_eq!(
            decode(&a, "CERTIFICATE").unwrap(),
            vec![0x30, 0x03, 1, 2, 3]
        );
        assert_eq!(
            split_bundle(&bundle, "CERTIFICATE", 1),
            Err(PemError::TooMany { max: 1 })
        );
        assert!(split_bundle("no pem here", "CERTIFICATE", 4)
            .unwrap()
            .is_empty());
        let key = encode("PRIVATE KEY", &[1, 2, 3]);
        assert!(matches!(
            split_bundle(&format!("{a}{key}"), "CERTIFICATE", 4),
            Err(PemError::Unterminated { index: 1, .. })
        ));
        assert!(matches!(
            decode(&key, "CERTIFICATE"),
            Err(PemError::Label { index: 0, .. })
        ));
        let cut = a.replace("-----END CERTIFICATE-----", "");
        assert!(matches!(
            split_bundle(&cut, "CERTIFICATE", 4),
            Err(PemError::Unterminated { index: 0, .. })
        ));
        let bad = a.replacen('\n', "\n*", 1);
        assert!(matches!(
            decode(&bad, "CERTIFICATE"),
            Err(PemError::Decode { .. })
        ));
    }
}
