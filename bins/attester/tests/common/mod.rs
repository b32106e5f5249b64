//! Shared helpers: the real binaries, a broker child killed on drop, loopback ports.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

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

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed (SIGKILL) and reaped on drop.
pub struct Proc {
    pub child: Child,
    pub url: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Raw HTTP/1.1 GET on loopback: `(status, body)`; `None` when nothing answers.
pub fn http_get(hostport: &str, path: &str) -> Option<(u16, Vec<u8>)> {
    let mut s = std::net::TcpStream::connect(hostport).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    let mut body = buf[head_end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Some((status, body))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..i]).trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + n]);
        b = &b[i + 2 + n + 2..];
    }
    out
}

/// Waits until `GET /healthz` answers 200, or panics (also when the child exits).
pub fn wait_healthy(hostport: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("broker exited early: {st}");
        }
        if matches!(http_get(hostport, "/healthz"), Some((200, _))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("broker at {hostport} did not become ready");
}

/// `remits-broker serve --dev` on `127.0.0.1:port` with data in `dir`.
pub fn start_dev_on(broker: &Path, dir: &Path, port: u16) -> Proc {
    let mut child = Command::new(broker)
        .args(["serve", "--dev", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let hp = format!("127.0.0.1:{port}");
    wait_healthy(&hp, &mut child);
    Proc {
        child,
        url: format!("http://{hp}"),
    }
}

/// `remits-broker serve --dev` on a free port.
pub fn start_dev(broker: &Path, dir: &Path) -> Proc {
    start_dev_on(broker, dir, free_port())
}

/// `remits-broker serve --config FILE` listening on `port`.
pub fn start_config(broker: &Path, cfg: &Path, port: u16) -> Proc {
    let mut child = Command::new(broker)
        .args(["serve", "--config"])
        .arg(cfg)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let hp = format!("127.0.0.1:{port}");
    wait_healthy(&hp, &mut child);
    Proc {
        child,
        url: format!("http://{hp}"),
    }
}

/// `remits-broker admin --broker URL --key KEY <args>`; asserts success.
pub fn admin(broker: &Path, url: &str, key: &Path, args: &[&std::ffi::OsStr]) {
    let out = Command::new(broker)
        .args(["admin", "--broker", url, "--key"])
        .arg(key)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "admin {args:?}: {out:?}");
}

/// Puts `value` at `path` through the admin CLI.
pub fn put(broker: &Path, url: &str, key: &Path, path: &str, value: &[u8], tmp: &Path) {
    let f = tmp.join(format!("put-{}", path.replace('/', "_")));
    std::fs::write(&f, value).unwrap();
    admin(
        broker,
        url,
        key,
        &[
            "put-resource".as_ref(),
            path.as_ref(),
            "--file".as_ref(),
            f.as_os_str(),
        ],
    );
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
