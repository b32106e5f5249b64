//! Runs the documentation's examples as an embedding project builds them: outside the remits
//! workspace, depending on the crates by path. Each example file under `crates/*/examples/` is
//! compiled here as a module and its `run` called on the real vectors.
//!
//! The vectors are `$REMITS_TESTDATA` (default `../../shared/testdata` from this directory).
//! Without them it prints `SKIPPED` and exits 0, unless `CI` is set: then it fails.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[allow(dead_code)] // its `main` is the example's own
#[path = "../../crates/snp/examples/embed_snp.rs"]
mod embed_snp;

#[allow(dead_code)]
#[path = "../../crates/tpm/examples/tpm_quote.rs"]
mod tpm_quote;

#[allow(dead_code)]
#[path = "../../crates/tpm/examples/azure_vtpm.rs"]
mod azure_vtpm;

#[allow(dead_code)]
#[path = "../../crates/verify/examples/appraise.rs"]
mod appraise;

fn main() -> ExitCode {
    let dir = std::env::var_os("REMITS_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"));
    if !dir.join("snp").is_dir() {
        if std::env::var_os("CI").is_some() {
            eprintln!(
                "smoke: FAILED: no test vectors in {} (CI is set)",
                dir.display()
            );
            return ExitCode::FAILURE;
        }
        eprintln!("smoke: SKIPPED: no test vectors in {}", dir.display());
        return ExitCode::SUCCESS;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("smoke: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let results = [
        ("embed_snp", embed_snp::run(&dir)),
        ("tpm_quote", tpm_quote::run(&dir)),
        ("azure_vtpm", azure_vtpm::run(&dir)),
        ("appraise", rt.block_on(appraise::run(&dir))),
        (
            "store_defaults",
            rt.block_on(store_defaults()).map_err(Into::into),
        ),
    ];
    let mut failed = 0;
    for (name, r) in results {
        match r {
            Ok(()) => println!("smoke: {name}: ok"),
            Err(e) => {
                eprintln!("smoke: {name}: FAILED: {e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        return ExitCode::FAILURE;
    }
    println!("smoke: 4 documentation examples and the store defaults ran outside the workspace");
    ExitCode::SUCCESS
}

/// remits-store as an embedder gets it (default features): the trait and the memory store, and
/// a persistent backend named at run time is the typed `BackendNotBuilt` error (docs/embedding.md).
async fn store_defaults() -> Result<(), String> {
    use remits_store::{AtRest, Backend, StoreError, StoreOptions};
    let memory = remits_store::open(
        &Backend::Memory,
        &AtRest::default(),
        StoreOptions::default(),
    )
    .await
    .map_err(|e| format!("memory: {e}"))?;
    memory
        .put(remits_store::Namespace::Config, "k", b"v", None)
        .await
        .map_err(|e| format!("memory put: {e}"))?;
    let dir = std::env::temp_dir().join("remits-smoke-never-created");
    match remits_store::open(
        &Backend::Embedded { dir: dir.clone() },
        &AtRest::default(),
        StoreOptions::default(),
    )
    .await
    {
        Err(StoreError::BackendNotBuilt {
            backend: "embedded",
            feature: "redb",
        }) if !dir.exists() => Ok(()),
        Err(e) => Err(format!(
            "embedded without feature redb: want BackendNotBuilt, got {e}"
        )),
        Ok(_) => Err("embedded opened without feature redb".into()),
    }
}
