//! Every `remits-attester <subcommand> --flag` that README.md and docs/*.md show exists.

#[path = "../../tests-shared/docs_cli.rs"]
mod docs_cli;

#[test]
fn documented_flags_exist() {
    let checked =
        docs_cli::Cli::new("remits-attester", env!("CARGO_BIN_EXE_remits-attester")).check_docs();
    println!("remits-attester: {checked} documented flags checked");
}
