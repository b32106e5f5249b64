//! Every `remits-verifier <subcommand> --flag` that README.md and docs/*.md show exists.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "../../tests-shared/docs_cli.rs"]
mod docs_cli;

#[test]
fn documented_flags_exist() {
    let checked =
        docs_cli::Cli::new("remits-verifier", env!("CARGO_BIN_EXE_remits-verifier")).check_docs();
    println!("remits-verifier: {checked} documented flags checked");
}
