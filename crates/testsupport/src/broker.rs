//! `remits-broker` as the integration tests run it. The binary's path comes from the caller
//! (`env!("CARGO_BIN_EXE_remits-broker")` exists only in the broker's own tests).

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::process::{spawn_ready, Probe, Proc};

/// `BIN serve --dev --listen 127.0.0.1:PORT --data-dir DIR`, `RUST_LOG=warn`, stdout
/// discarded, stderr inherited.
pub fn dev_command(bin: &Path, dir: &Path, port: u16) -> Command {
    let mut c = Command::new(bin);
    c.args(["serve", "--dev", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    c
}

/// `BIN serve --config CFG`, `RUST_LOG=warn`, stdout discarded, stderr inherited.
pub fn config_command(bin: &Path, cfg: &Path) -> Command {
    let mut c = Command::new(bin);
    c.args(["serve", "--config"])
        .arg(cfg)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    c
}

/// Spawns `cmd` and waits until `GET /healthz` at `url` answers 200 (see [`Probe::Healthz`]).
pub fn start(mut cmd: Command, url: &str) -> Proc {
    spawn_ready(&mut cmd, url, Probe::Healthz)
}

/// `BIN serve --dev` on a free loopback port with data in `dir`, once healthy.
pub fn start_dev(bin: &Path, dir: &Path) -> Proc {
    let port = crate::net::free_port();
    start(
        dev_command(bin, dir, port),
        &format!("http://127.0.0.1:{port}"),
    )
}

/// `BIN serve --config CFG` answering at `url`, once healthy.
pub fn start_config(bin: &Path, cfg: &Path, url: &str) -> Proc {
    start(config_command(bin, cfg), url)
}

/// `BIN admin --broker URL --key KEY ARGS...` (`RUST_LOG=warn`); the output, whatever the exit.
///
/// # Panics
/// When the binary cannot be run.
pub fn admin<A: AsRef<OsStr>>(bin: &Path, url: &str, key: &Path, args: &[A]) -> Output {
    Command::new(bin)
        .args(["admin", "--broker", url, "--key"])
        .arg(key)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// [`admin`], asserting success; its stdout.
///
/// # Panics
/// When the command fails.
pub fn admin_ok<A: AsRef<OsStr>>(bin: &Path, url: &str, key: &Path, args: &[A]) -> String {
    let out = admin(bin, url, key, args);
    let shown: Vec<&OsStr> = args.iter().map(AsRef::as_ref).collect();
    assert!(out.status.success(), "admin {shown:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Stores `value` at resource `path` with `admin put-resource` (the value goes through a file
/// in `tmp`); asserts success.
///
/// # Panics
/// When the file cannot be written or the command fails.
pub fn put(bin: &Path, url: &str, key: &Path, path: &str, value: &[u8], tmp: &Path) {
    let f = tmp.join(format!("secret-{}", path.replace('/', "_")));
    std::fs::write(&f, value).unwrap();
    admin_ok(
        bin,
        url,
        key,
        &["put-resource", path, "--file", f.to_str().unwrap()],
    );
}
