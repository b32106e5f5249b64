//! Exit codes shared by every subcommand.
use std::process::ExitCode;

/// Evidence verified / verdict affirming.
pub(crate) const OK: ExitCode = ExitCode::SUCCESS;
/// Evidence rejected (including malformed evidence) or verdict not affirming.
pub(crate) const REJECTED: ExitCode = ExitCode::FAILURE;
/// Usage error or unreadable input (exit status 2).
pub(crate) fn usage_code() -> ExitCode {
    ExitCode::from(2)
}

/// Print one line on stderr and return the usage exit code.
pub(crate) fn usage(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("remits-verifier: {msg}");
    usage_code()
}

/// Print one line on stderr and return the rejected exit code.
pub(crate) fn rejected(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("remits-verifier: rejected: {msg}");
    REJECTED
}
