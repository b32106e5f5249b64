//! Entry point of the `init_data` fuzz target (and of the test that runs it over seeds and
//! their mutations in CI): init-data as a KBS message carries it (JSON with a TOML body) and the
//! TOML body alone. Must never panic, hang or allocate more than a small multiple of its input.

use crate::initdata::InitData;

/// Runs `data` through the init-data parsers: as the JSON object of a KBS `Attestation`
/// (`{"format": ..., "body": ...}`), and as a TOML body: digest and expected PCR8.
pub fn init_data(data: &[u8]) {
    if let Ok(i) = serde_json::from_slice::<InitData>(data) {
        let _ = i.digest();
        let _ = i.expected_pcr8();
    }
    if let Ok(body) = std::str::from_utf8(data) {
        let i = InitData {
            format: "toml".into(),
            body: body.into(),
        };
        let _ = i.digest();
        let _ = i.expected_pcr8();
    }
}
