//! Every `remits-broker <subcommand> --flag` that README.md and docs/*.md show exists.

#[path = "../../tests-shared/docs_cli.rs"]
mod docs_cli;

#[test]
fn documented_flags_exist() {
    let checked =
        docs_cli::Cli::new("remits-broker", env!("CARGO_BIN_EXE_remits-broker")).check_docs();
    println!("remits-broker: {checked} documented flags checked");
}
