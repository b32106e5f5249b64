//! Where the shared real-hardware test vectors are.
//!
//! The vectors stay outside the repository, in `../shared/testdata` next to the checkout. Tests
//! call [`dir`]: it honours `REMITS_TESTDATA`, otherwise looks beside the workspace root. When
//! the directory is missing, tests are skipped with a clear message — unless `CI` is set, in
//! which case a missing directory is a failure, so CI can never pass by skipping.

use std::path::{Path, PathBuf};

/// Environment variable that overrides the test-data location.
pub const ENV: &str = "REMITS_TESTDATA";

/// The test-data directory, or `None` (after printing why) when it is absent outside CI.
///
/// # Panics
/// When `CI` is set and the directory is missing: CI must never skip real-data tests.
pub fn dir() -> Option<PathBuf> {
    let candidate = match std::env::var_os(ENV) {
        Some(p) => PathBuf::from(p),
        None => default_location(),
    };
    if candidate.join("README.md").is_file() {
        return Some(candidate);
    }
    let msg = format!(
        "real test vectors not found at {} (set {ENV} to their directory)",
        candidate.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{msg}; CI is set, so this is a failure");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// Path of one test-data file, or `None` when the directory is absent outside CI.
pub fn file(rel: &str) -> Option<PathBuf> {
    dir().map(|d| d.join(rel))
}

fn default_location() -> PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    workspace_root(&start)
        .unwrap_or(start)
        .join("..")
        .join("shared")
        .join("testdata")
}

fn workspace_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|p| p.join("Cargo.lock").is_file() && p.join("crates").is_dir())
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_shared_vectors() {
        if let Some(d) = super::dir() {
            assert!(d.join("snp").is_dir(), "{} has no snp/", d.display());
        }
    }
}
