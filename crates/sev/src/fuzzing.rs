//! Entry point of the `sev_cert` fuzz target (and of the test that runs it over mutated real
//! chains): every parser of this crate on arbitrary bytes. It must never panic, hang or
//! allocate more than a small multiple of its input.

use crate::builtin::{AmdRoots, Generation};
use crate::chain::{PlatformChain, RootChoice};
use crate::error::CertName;
use crate::sev_cert::{SevCert, SEV_CERT_LEN};

/// Runs `data` through the certificate, chain, session-blob, measurement and secret-table
/// parsers.
pub fn cert(data: &[u8]) {
    for name in [CertName::Cek, CertName::Oca, CertName::Pek, CertName::Pdh] {
        let _ = SevCert::parse(data, name);
    }
    let _ = AmdRoots::verify(data, data, None);
    // The AMD-format pair: split after the first certificate's declared size or in half.
    let (a, b) = data.split_at(data.len() / 2);
    let _ = AmdRoots::verify(a, b, None);
    let _ = AmdRoots::verify(Generation::Milan.ark(), data, None);
    if let Ok(chain) = PlatformChain::from_sevctl_export(data) {
        let _ = chain.verify(RootChoice::AnyGeneration);
    } else if let Some(c) = data.get(..SEV_CERT_LEN) {
        // One (possibly mutated) certificate in every position of an otherwise empty chain.
        let c = c.to_vec();
        let chain = PlatformChain {
            cek: c.clone(),
            oca: c.clone(),
            pek: c.clone(),
            pdh: c,
        };
        let _ = chain.verify(RootChoice::Generation(Generation::Milan));
    }
    let _ = crate::SessionBlob::from_bytes(data);
    let _ = crate::LaunchMeasurement::from_bytes(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = crate::LaunchMeasurement::from_b64(s);
    }
    let _ = crate::table::parse_secret_table(data);
}
