//! Shared helpers for the SNP integration tests.
#![allow(dead_code, unreachable_pub)]

pub mod forge;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use remits_snp::backend::SignatureBackend;
use remits_snp::cert::pem_bundle_to_der;

/// The snp/ test-data directory, or None (test prints SKIPPED).
pub fn snp_dir() -> Option<PathBuf> {
    remits_testsupport::testdata::dir().map(|d| d.join("snp"))
}

/// Read a file of the snp/ directory.
pub fn read(dir: &std::path::Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A PEM bundle as DER certificates.
pub fn bundle(dir: &std::path::Path, name: &str) -> Vec<Vec<u8>> {
    pem_bundle_to_der(&String::from_utf8(read(dir, name)).unwrap()).unwrap()
}

/// Parse an RFC 3339 time.
pub fn at(s: &str) -> SystemTime {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .into()
}

/// Every backend compiled in.
pub fn backends() -> Vec<Arc<dyn SignatureBackend>> {
    vec![
        Arc::new(remits_snp::backend::RustCrypto) as Arc<dyn SignatureBackend>,
        #[cfg(feature = "aws-lc")]
        Arc::new(remits_snp::backend::AwsLc),
    ]
}

/// A time inside every real certificate's validity except the VLEK's.
pub const NOW: &str = "2026-11-22T00:00:00Z";
/// A time inside the public VLEK's validity.
pub const VLEK_TIME: &str = "2025-06-01T00:00:00Z";
