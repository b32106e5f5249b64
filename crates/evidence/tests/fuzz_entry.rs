//! The `init_data` fuzz entry over init-data documents (TOML bodies, the KBS JSON form) and
//! bounded deterministic mutations, under the allocation cap, plus hostile sizes.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
use remits_evidence::fuzzing;

#[path = "../../../fuzz/support/alloc_cap.rs"]
mod alloc_cap;

#[global_allocator]
static ALLOC: alloc_cap::Counting = alloc_cap::Counting;

#[test]
fn init_data_entry_survives_documents_mutations_and_hostile_sizes() {
    let _serial = alloc_cap::serial();
    let body = "algorithm = \"sha384\"\nversion = \"0.1.0\"\n\n[data]\n\"aa.toml\" = '''\n[token_configs]\nkbs_url = \"https://kbs:8080\"\n'''\n";
    let json = serde_json::json!({"format": "toml", "body": body}).to_string();
    let mut runs = 0;
    for seed in [body, json.as_str(), "algorithm = \"sha512\"\n"] {
        runs += alloc_cap::exercise("init-data", seed.as_bytes(), 800, fuzzing::init_data);
    }
    // Hostile sizes: deep nesting, a body over the 1 MiB limit, many keys.
    let deep = format!(
        "algorithm = \"sha256\"\nx = {}{}",
        "{a=".repeat(50_000),
        "}".repeat(50_000)
    );
    let over = format!("algorithm = \"sha256\"\nx = \"{}\"", "a".repeat(1 << 20));
    let many: String = (0..50_000).map(|i| format!("k{i} = {i}\n")).collect();
    for (name, h) in [
        ("deep tables", deep),
        ("over 1 MiB", over),
        ("50,000 keys", many),
    ] {
        runs += alloc_cap::exercise(name, h.as_bytes(), 2, fuzzing::init_data);
    }
    assert!(runs > 2400, "{runs}");
}

/// Seeds for `fuzz/run.sh` (with `REMITS_FUZZ_SEEDS` set).
#[test]
#[ignore = "writes fuzz seeds; run by fuzz/run.sh"]
fn write_fuzz_seeds() {
    let _serial = alloc_cap::serial();
    let body = "algorithm = \"sha384\"\nversion = \"0.1.0\"\n\n[data]\n\"aa.toml\" = '''\n[token_configs]\nkbs_url = \"https://kbs:8080\"\n'''\n";
    alloc_cap::write_seed("init_data", "body.toml", body.as_bytes());
    let json = serde_json::json!({"format": "toml", "body": body}).to_string();
    alloc_cap::write_seed("init_data", "kbs.json", json.as_bytes());
}
