//! Shared helpers: the real binaries, a broker child killed on drop, loopback ports.
#![allow(dead_code, unreachable_pub, unused_imports)] // each test uses a part of it

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use remits_testsupport::broker;

pub mod swtpm;

/// The attester under test.
pub const ATTESTER: &str = env!("CARGO_BIN_EXE_remits-attester");

/// A sibling binary of the attester in the same target directory (`cargo test --workspace` and
/// `cargo build` build them all). Missing: SKIPPED, or a failure when `CI` is set.
pub fn sibling(name: &str) -> Option<PathBuf> {
    let p = Path::new(ATTESTER).parent()?.join(name);
    if p.is_file() {
        return Some(p);
    }
    let msg = format!(
        "{name} not built next to {ATTESTER}; run `cargo build -p remits-broker -p remits-verifier` first"
    );
    assert!(std::env::var_os("CI").is_none(), "{msg}");
    println!("SKIPPED: {msg}");
    None
}

pub use remits_testsupport::net::{free_port, http_get};
pub use remits_testsupport::process::Proc;

/// `remits-broker serve --dev` on `127.0.0.1:port` with data in `dir`, once healthy.
pub fn start_dev_on(broker: &Path, dir: &Path, port: u16) -> Proc {
    broker::start(
        broker::dev_command(broker, dir, port),
        &format!("http://127.0.0.1:{port}"),
    )
}

/// `remits-broker serve --dev` on a free port.
pub fn start_dev(broker: &Path, dir: &Path) -> Proc {
    broker::start_dev(broker, dir)
}

/// `remits-broker serve --config FILE` listening on `port`.
pub fn start_config(broker: &Path, cfg: &Path, port: u16) -> Proc {
    broker::start_config(broker, cfg, &format!("http://127.0.0.1:{port}"))
}

/// `remits-broker admin --broker URL --key KEY <args>`; asserts success.
pub fn admin(broker: &Path, url: &str, key: &Path, args: &[&std::ffi::OsStr]) {
    broker::admin_ok(broker, url, key, args);
}

/// Puts `value` at `path` through the admin CLI.
pub fn put(broker: &Path, url: &str, key: &Path, path: &str, value: &[u8], tmp: &Path) {
    broker::put(broker, url, key, path, value, tmp)
}

/// The attester with `--tee sim-snp --sim-dir SIM`.
pub fn sim_attester(sim: &Path) -> Command {
    let mut c = Command::new(ATTESTER);
    c.args(["--tee", "sim-snp", "--sim-dir"]).arg(sim);
    c
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

/// Every entry under `dir` (recursively), for "nothing left behind" checks.
pub fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            out.push(e.path());
            if e.path().is_dir() {
                out.extend(entries(&e.path()));
            }
        }
    }
    out
}

/// Output as text for assertion messages.
pub fn show(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
