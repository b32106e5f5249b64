//! `#[serde(with = "crate::hexser")]`: `Vec<u8>` as lowercase hex text, read back in either case.
//!
//! The same encoding as `remits_evidence::hexser`, kept here so this crate does not depend on
//! remits-evidence (and its JSON/TOML stack) for two functions.

use serde::{Deserialize, Deserializer, Serializer};

/// Serialize bytes as lowercase hex.
pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

/// Deserialize bytes from hex text (either case).
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    hex::decode(s.as_ref()).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Here(#[serde(with = "crate::hexser")] Vec<u8>);

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Evidence(#[serde(with = "remits_evidence::hexser")] Vec<u8>);

    /// Byte for byte the JSON `remits_evidence::hexser` writes (what the claims used before),
    /// and the same reading: either case, odd length and non-hex refused.
    #[test]
    fn same_json_as_remits_evidence_hexser() {
        for bytes in [vec![], vec![0u8], (0..=255u8).collect::<Vec<u8>>()] {
            let here = serde_json::to_string(&Here(bytes.clone())).unwrap();
            let there = serde_json::to_string(&Evidence(bytes.clone())).unwrap();
            assert_eq!(here, there);
            assert_eq!(serde_json::from_str::<Here>(&here).unwrap().0, bytes);
        }
        for text in ["\"ABcd\"", "\"abc\"", "\"zz\"", "\"\"", "12"] {
            let here = serde_json::from_str::<Here>(text).map(|h| h.0).ok();
            let there = serde_json::from_str::<Evidence>(text).map(|e| e.0).ok();
            assert_eq!(here, there, "{text}");
        }
        assert_eq!(
            serde_json::from_str::<Here>("\"ABcd\"").unwrap().0,
            [0xab, 0xcd]
        );
    }
}
