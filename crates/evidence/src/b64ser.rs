//! Serde helpers: `#[serde(with = "remits_evidence::b64ser")]` writes `Vec<u8>` as standard
//! base64 with padding, and reads standard or URL-safe base64, padded or not.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::{Deserialize, Deserializer, Serializer};

/// Serialize bytes as standard base64 with padding.
///
/// # Errors
///
/// Only the serializer's own errors.
pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&STANDARD.encode(bytes))
}

/// Deserialize bytes from base64 (standard or URL-safe alphabet, padded or not).
///
/// # Errors
///
/// When the value is not a string or not base64 in any of the accepted forms.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    decode_any(s.as_ref()).map_err(serde::de::Error::custom)
}

/// Decode base64 in any of the four common forms.
///
/// # Errors
///
/// [`base64::DecodeError`] when `s` is not base64 in any of the four forms.
pub fn decode_any(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let s = s.trim();
    if s.contains(['-', '_']) {
        if s.ends_with('=') {
            URL_SAFE.decode(s)
        } else {
            URL_SAFE_NO_PAD.decode(s)
        }
    } else if s.ends_with('=') {
        STANDARD.decode(s)
    } else {
        STANDARD_NO_PAD.decode(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_all_forms() {
        let bytes: Vec<u8> = (0u8..=255).collect();
        for enc in [
            STANDARD.encode(&bytes),
            STANDARD_NO_PAD.encode(&bytes),
            URL_SAFE.encode(&bytes),
            URL_SAFE_NO_PAD.encode(&bytes),
        ] {
            assert_eq!(decode_any(&enc).unwrap(), bytes);
        }
        assert!(decode_any("not base64!").is_err());
    }
}
