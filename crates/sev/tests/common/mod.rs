//! Shared helpers: the real SEV chains from the shared test data.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// `<testdata>/sev`, or `None` (after printing SKIPPED) when the data is absent outside CI.
pub(crate) fn sev_dir() -> Option<PathBuf> {
    remits_testsupport::testdata::dir().map(|d| d.join("sev"))
}

pub(crate) fn read(d: &Path, name: &str) -> Vec<u8> {
    std::fs::read(d.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub(crate) fn chain(d: &Path, gen: &str) -> remits_sev::PlatformChain {
    remits_sev::PlatformChain {
        cek: read(d, &format!("{gen}-cek.cert")),
        oca: read(d, &format!("{gen}-oca.cert")),
        pek: read(d, &format!("{gen}-pek.cert")),
        pdh: read(d, &format!("{gen}-pdh.cert")),
    }
}
