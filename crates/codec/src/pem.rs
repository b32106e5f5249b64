//! PEM (RFC 7468) to DER and back, on top of the `pem-rfc7468` crate (the one `der` uses).
//!
//! Two grammars, one error type ([`PemError`]):
//!
//! # Strict: [`decode`], [`split_bundle`]
//! Each block is decoded with RFC 7468's **strict** grammar: `-----BEGIN LABEL-----`, Base64
//! wrapped at 64 columns (the last line shorter), `-----END LABEL-----` with the same label, no
//! RFC 1421 headers (`Proc-Type:` ...). OpenSSL, AMD's KDS, Azure IMDS and every tool remits
//! meets write that form; use it for what those tools produce (certificate chains, bundles).
//!
//! # Lenient: [`decode_lenient`], [`der_or_pem`]
//! Files an operator supplies (CRLs, trust roots, certificates named on a command line or in a
//! configuration) are sometimes written by hand or by scripts as one long Base64 line, or with
//! CRLF line ends. The lenient grammar accepts, beyond the strict one:
//! - Base64 lines of any length (one line for the whole body included);
//! - whitespace at the start and end of every line, blank lines, LF or CRLF line ends.
//!
//! It still refuses, as the strict one does:
//! - anything but exactly one `-----BEGIN LABEL-----` / `-----END LABEL-----` pair with the
//!   expected label: text before the BEGIN line or after the END line (a second block gives
//!   [`PemError::TooMany`]), another label ([`PemError::Label`]), a missing END line
//!   ([`PemError::Unterminated`]), an END line naming another label;
//! - RFC 1421 header lines (`Name: value`);
//! - Base64 that is not canonical (standard alphabet, `=` padding to a multiple of 4, no other
//!   characters, unused bits zero, checked by `base64ct`) and an empty body.
//!
//! It allocates at most the input's size twice (the Base64 joined, then the DER), never more.
//! [`der_or_pem`] picks DER or PEM by content: input that does not start (after leading
//! whitespace) with `-----BEGIN ` is returned unchanged as DER, for the DER parser to judge.
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
//!
//! # The other path: RustCrypto's key decoders
//! Private and public keys given as PEM (`from_pkcs8_pem`, `from_sec1_pem`,
//! `from_public_key_pem` in `remits-kbs`, `remits-manifest`, `remits-measure`, `remits-tpm`,
//! `remits-verify`) are decoded by the RustCrypto crates themselves, on the same `pem-rfc7468`
//! strict grammar; they do not go through this module.

use std::borrow::Cow;

use base64ct::{Base64, Encoding as _};

/// How a PEM boundary line starts (`-----BEGIN LABEL-----`).
const BEGIN: &str = "-----BEGIN ";
/// How a PEM END line starts.
const END: &str = "-----END ";
/// The longest label the lenient grammar reports back in [`PemError::Label`].
const MAX_LABEL: usize = 64;

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

/// Decodes the one PEM block labelled `label` that `text` holds, with the **lenient** grammar
/// meant for files operators supply: Base64 lines of any length, whitespace and CRLF around
/// lines (see the [module documentation](self) for what is still refused).
///
/// # Errors
///
/// [`PemError::Label`] when the block has another label, [`PemError::Unterminated`] when its
/// END line is missing, [`PemError::TooMany`] when a second block follows, and
/// [`PemError::Decode`] for text before or after the block, a malformed BEGIN or END line,
/// RFC 1421 headers, an empty body or Base64 that is not canonical.
pub fn decode_lenient(text: &str, label: &str) -> Result<Vec<u8>, PemError> {
    let err = |reason: &str| PemError::Decode {
        index: 0,
        reason: reason.to_owned(),
    };
    let mut lines = text
        .lines()
        .map(str::trim_ascii)
        .filter(|line| !line.is_empty());
    let first = lines.next().unwrap_or_default();
    let Some(found) = first
        .strip_prefix(BEGIN)
        .and_then(|rest| rest.strip_suffix("-----"))
    else {
        return Err(err(
            "the text does not start with a -----BEGIN LABEL----- line",
        ));
    };
    if found != label {
        let printable = found.len() <= MAX_LABEL
            && !found.contains("--")
            && found.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
        if !printable {
            return Err(err("malformed -----BEGIN line"));
        }
        return Err(PemError::Label {
            index: 0,
            expected: label.to_owned(),
            found: found.to_owned(),
        });
    }
    let end_line = format!("{END}{label}-----");
    // Bounded by the input: the body lines joined, without their whitespace.
    let mut b64 = String::with_capacity(text.len());
    let mut terminated = false;
    for line in lines.by_ref() {
        if line.starts_with(END) {
            if line != end_line {
                return Err(err(&format!(
                    "the END line does not close -----BEGIN {label}-----"
                )));
            }
            terminated = true;
            break;
        }
        if line.starts_with(BEGIN) {
            break;
        }
        if line.contains(':') {
            return Err(err(
                "RFC 1421 header lines (`Name: value`) are not accepted",
            ));
        }
        b64.push_str(line);
    }
    if !terminated {
        return Err(PemError::Unterminated {
            index: 0,
            label: label.to_owned(),
        });
    }
    if let Some(extra) = lines.next() {
        if extra.starts_with(BEGIN) {
            return Err(PemError::TooMany { max: 1 });
        }
        return Err(err("text after the -----END line"));
    }
    if b64.is_empty() {
        return Err(err("no Base64 between the BEGIN and END lines"));
    }
    Base64::decode_vec(&b64).map_err(|e| err(&format!("Base64: {e}")))
}

/// DER or one PEM block labelled `label`, by content: `bytes` that do not start (after leading
/// ASCII whitespace) with `-----BEGIN ` are returned unchanged (borrowed) as DER, for the DER
/// parser to judge; the others are decoded with [`decode_lenient`].
///
/// # Errors
///
/// [`PemError::Decode`] when PEM text is not UTF-8, and every error of [`decode_lenient`].
pub fn der_or_pem<'a>(bytes: &'a [u8], label: &str) -> Result<Cow<'a, [u8]>, PemError> {
    if !bytes.trim_ascii_start().starts_with(BEGIN.as_bytes()) {
        return Ok(Cow::Borrowed(bytes));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| PemError::Decode {
        index: 0,
        reason: "PEM text is not UTF-8".to_owned(),
    })?;
    decode_lenient(text, label).map(Cow::Owned)
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

    /// A 300-byte payload: its strict PEM has five Base64 lines.
    fn payload() -> Vec<u8> {
        (0..300u16).map(|i| (i % 251) as u8).collect()
    }

    fn single_line(label: &str, der: &[u8]) -> String {
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            Base64::encode_string(der)
        )
    }

    #[test]
    fn lenient_accepts_strict_long_lines_and_crlf() {
        let der = payload();
        let strict = encode("X509 CRL", &der);
        assert_eq!(decode(&strict, "X509 CRL").unwrap(), der);
        assert_eq!(decode_lenient(&strict, "X509 CRL").unwrap(), der);
        // One long line: strict refuses it, lenient does not.
        let one = single_line("X509 CRL", &der);
        assert!(matches!(
            decode(&one, "X509 CRL"),
            Err(PemError::Decode { .. })
        ));
        assert_eq!(decode_lenient(&one, "X509 CRL").unwrap(), der);
        // CRLF line ends (strict takes them at 64 columns too), indentation, blank lines,
        // trailing blanks and surrounding whitespace.
        let crlf = strict.replace('\n', "\r\n");
        assert_eq!(decode(&crlf, "X509 CRL").unwrap(), der);
        assert_eq!(decode_lenient(&crlf, "X509 CRL").unwrap(), der);
        let messy = format!(
            "\r\n  {}\r\n\r\n",
            one.replace('\n', " \r\n\r\n\t").trim_end()
        );
        assert!(decode(&messy, "X509 CRL").is_err());
        assert_eq!(decode_lenient(&messy, "X509 CRL").unwrap(), der);
        // Uneven line lengths.
        let b64 = Base64::encode_string(&der);
        let (a, b) = b64.split_at(100);
        let uneven = format!("-----BEGIN X509 CRL-----\n{a}\n{b}\n-----END X509 CRL-----");
        assert!(decode(&uneven, "X509 CRL").is_err());
        assert_eq!(decode_lenient(&uneven, "X509 CRL").unwrap(), der);
    }

    #[test]
    fn lenient_refuses_what_strict_refuses() {
        let der = payload();
        let one = single_line("X509 CRL", &der);
        let strict = encode("X509 CRL", &der);
        let both = |text: &str| (decode(text, "X509 CRL"), decode_lenient(text, "X509 CRL"));
        // Another label (strict sees the long line first in the single-line form).
        for text in [
            encode("CERTIFICATE", &der),
            single_line("CERTIFICATE", &der),
        ] {
            let (s, l) = both(&text);
            assert!(s.is_err());
            assert_eq!(
                l,
                Err(PemError::Label {
                    index: 0,
                    expected: "X509 CRL".into(),
                    found: "CERTIFICATE".into()
                })
            );
        }
        assert!(matches!(
            decode(&encode("CERTIFICATE", &der), "X509 CRL"),
            Err(PemError::Label { .. })
        ));
        // An END line naming another label.
        let (s, l) = both(&one.replace("END X509 CRL", "END CERTIFICATE"));
        assert!(s.is_err());
        assert!(matches!(l, Err(PemError::Decode { .. })), "{l:?}");
        // RFC 1421 headers.
        let headers = strict.replacen(
            "-----\n",
            "-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n",
            1,
        );
        let (s, l) = both(&headers);
        assert!(s.is_err());
        assert!(
            matches!(&l, Err(PemError::Decode { reason, .. }) if reason.contains("RFC 1421")),
            "{l:?}"
        );
        // Two blocks.
        let (s, l) = both(&format!("{one}{one}"));
        assert!(s.is_err());
        assert_eq!(l, Err(PemError::TooMany { max: 1 }));
        // Missing END line, and a second BEGIN before the first block's END.
        let cut = one.replace("-----END X509 CRL-----\n", "");
        let (s, l) = both(&cut);
        assert!(s.is_err());
        assert!(
            matches!(l, Err(PemError::Unterminated { index: 0, .. })),
            "{l:?}"
        );
        let (_, l) = both(&format!("{cut}{one}"));
        assert!(
            matches!(l, Err(PemError::Unterminated { index: 0, .. })),
            "{l:?}"
        );
        // Text before or after the block.
        for text in [
            format!("subject=CN=x\n{one}"),
            format!("{one}trailing words\n"),
        ] {
            let (s, l) = both(&text);
            assert!(s.is_err());
            assert!(matches!(l, Err(PemError::Decode { .. })), "{l:?}");
        }
        // Empty body, empty text, a BEGIN line without its closing dashes.
        for text in [
            "-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n".to_owned(),
            String::new(),
            one.replacen("CRL-----", "CRL", 1),
        ] {
            assert!(matches!(
                decode_lenient(&text, "X509 CRL"),
                Err(PemError::Decode { .. })
            ));
        }
    }

    #[test]
    fn lenient_base64_is_canonical() {
        let pem =
            |body: &str| format!("-----BEGIN X509 CRL-----\n{body}\n-----END X509 CRL-----\n");
        assert_eq!(
            decode_lenient(&pem("AAEC"), "X509 CRL").unwrap(),
            vec![0, 1, 2]
        );
        assert_eq!(
            decode_lenient(&pem("AAE="), "X509 CRL").unwrap(),
            vec![0, 1]
        );
        assert_eq!(decode_lenient(&pem("AA=="), "X509 CRL").unwrap(), vec![0]);
        for bad in [
            "AA",         // padding missing
            "AAE",        // padding missing
            "AB==",       // unused bits set: not canonical
            "AAF=",       // likewise
            "AA==AAEC",   // padding in the middle
            "AA*C",       // not in the alphabet
            "AA-_",       // the URL-safe alphabet
            "AAEC AAEC",  // blank inside a line
            "AAEC=",      // stray padding
            "AAEC\u{e9}", // not ASCII
        ] {
            assert!(
                matches!(
                    decode_lenient(&pem(bad), "X509 CRL"),
                    Err(PemError::Decode { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn lenient_does_not_echo_a_long_begin_line() {
        // BEGIN, body and END on one line: the "label" would be the whole file.
        let b64 = Base64::encode_string(&payload());
        let text = format!("-----BEGIN X509 CRL-----{b64}-----END X509 CRL-----");
        let e = decode_lenient(&text, "X509 CRL").unwrap_err();
        assert!(matches!(e, PemError::Decode { .. }), "{e:?}");
        assert!(e.to_string().len() < 100, "{e}");
    }

    #[test]
    fn der_or_pem_passes_der_through() {
        let der = payload();
        let got = der_or_pem(&der, "X509 CRL").unwrap();
        assert!(matches!(got, Cow::Borrowed(_)));
        assert_eq!(got.as_ref(), der.as_slice());
        // Not PEM, so returned as is for the DER parser to refuse.
        let text = b"not a crl";
        assert_eq!(der_or_pem(text, "X509 CRL").unwrap().as_ref(), text);
        let lead = format!("subject=CN=x\n{}", single_line("X509 CRL", &der));
        assert!(matches!(
            der_or_pem(lead.as_bytes(), "X509 CRL").unwrap(),
            Cow::Borrowed(_)
        ));
        // PEM (after leading whitespace) is decoded leniently.
        let pem = format!("\r\n {}", single_line("X509 CRL", &der));
        let got = der_or_pem(pem.as_bytes(), "X509 CRL").unwrap();
        assert!(matches!(got, Cow::Owned(_)));
        assert_eq!(got.as_ref(), der.as_slice());
        assert!(matches!(
            der_or_pem(pem.as_bytes(), "CERTIFICATE"),
            Err(PemError::Label { .. })
        ));
        let mut latin1 = pem.into_bytes();
        latin1.push(0xe9);
        assert!(matches!(
            der_or_pem(&latin1, "X509 CRL"),
            Err(PemError::Decode { .. })
        ));
    }
}
