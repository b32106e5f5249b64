//! Writing to stdout without panicking when the reader has gone away.
//!
//! Rust ignores `SIGPIPE`, so `println!` to a closed pipe (`remits-verifier ... | head -c1`)
//! panics with "failed printing to stdout: Broken pipe". Every binary prints through
//! [`outln!`](crate::outln) / [`out!`](crate::out) / [`write_bytes`] instead: a closed pipe
//! ends the process quietly with status [`EXIT_BROKEN_PIPE`] (141, what a shell reports for a
//! process killed by `SIGPIPE`, so `set -o pipefail` still sees that the output was cut, and a
//! cut output never reads as success); any other write error (a full disk) is one line on
//! stderr and exit status 2. Servers print their start-up notices with [`announce`] instead,
//! which ignores errors: a server is not stopped by a reader that went away.

use std::io::Write;

/// Exit status after stdout was closed by its reader (128 + SIGPIPE).
pub const EXIT_BROKEN_PIPE: i32 = 141;

/// Ends the process for a failed stdout write.
fn fail(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(EXIT_BROKEN_PIPE);
    }
    // stderr may be gone too: ignore that.
    let _ = writeln!(std::io::stderr(), "cannot write to stdout: {e}");
    std::process::exit(2);
}

/// Writes formatted text to stdout and flushes it (see the module documentation for what a
/// failure does). Used by [`outln!`](crate::outln) and [`out!`](crate::out).
pub fn write_fmt(args: std::fmt::Arguments<'_>) {
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_fmt(args).and_then(|()| o.flush()) {
        fail(&e);
    }
}

/// Writes a server's start-up notice (bound address, usage banner) to stdout, ignoring any
/// error: a server keeps serving when nobody reads its stdout (`| head -1`, `>&-`).
pub fn announce(args: std::fmt::Arguments<'_>) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_fmt(args).and_then(|()| o.flush());
}

/// Writes raw bytes to stdout and flushes them (secrets, binary output).
pub fn write_bytes(b: &[u8]) {
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_all(b).and_then(|()| o.flush()) {
        fail(&e);
    }
}

/// `println!` that exits quietly (status 141) when stdout is a closed pipe.
#[macro_export]
macro_rules! outln {
    () => { $crate::stdout::write_fmt(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::stdout::write_fmt(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` that exits quietly (status 141) when stdout is a closed pipe.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::stdout::write_fmt(format_args!($($arg)*)) };
}
