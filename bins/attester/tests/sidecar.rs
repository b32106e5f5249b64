//! Sidecar security of `remits-attester serve` against the real `remits-broker` on loopback:
//! the unix socket (mode 0600, stale socket replaced, a non-socket path refused), the TCP
//! bearer token (401 without or with a wrong token), the Host allow-list (421), malformed
//! resource paths (400, the broker never contacted); and `run`'s rollback, which restores a
//! file that existed before the run byte for byte.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use remits_testsupport::net::get_over;
use remits_testsupport::process::spawn_announced;

/// Starts `serve` with `args` and waits for its "serving ... on " line.
fn start_serve(sim: &Path, args: &[&str], env: &[(&str, &Path)]) -> Proc {
    let mut cmd = sim_attester(sim);
    cmd.arg("serve")
        .args(args)
        .env("REMITS_LOG", "warn")
        .env_remove("RUNTIME_DIRECTORY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    spawn_announced(&mut cmd, "serve")
}

/// One HTTP/1.1 GET over `s`: `(status, head, body)`.
fn get<S: Read + Write>(s: S, path: &str, headers: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    get_over(s, path, headers)
}

fn tcp(at: &str) -> TcpStream {
    let s = TcpStream::connect(at).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s
}

fn unix(at: &str) -> UnixStream {
    let s = UnixStream::connect(at).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// A broker (`serve --dev`) holding `default/demo/key`.
struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    sim: PathBuf,
    broker: Proc,
}

fn setup(broker_bin: &Path) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let dev = dir.join("dev");
    let broker = start_dev(broker_bin, &dev);
    put(
        broker_bin,
        &broker.url,
        &dev.join("admin-key.pem"),
        "default/demo/key",
        b"sidecar secret \x00\xff",
        &dir,
    );
    Setup {
        _tmp: tmp,
        sim: dev.join("sim"),
        dir,
        broker,
    }
}

#[test]
fn unix_socket_mode_0600_serves_and_refuses_non_socket_path() {
    let Some(broker) = sibling("remits-broker") else {
        return;
    };
    let s = setup(&broker);
    let sock = s.dir.join("cdh.sock");
    let listen = format!("unix:{}", sock.display());
    let args = [
        "--listen",
        listen.as_str(),
        "--broker",
        s.broker.url.as_str(),
        "--retry-for",
        "5",
    ];
    let serve = start_serve(&s.sim, &args, &[]);
    assert_eq!(serve.url, sock.display().to_string());
    assert_eq!(mode(&sock), 0o600);
    // No token and any Host: the socket's permissions are the access control.
    let (st, _, body) = get(unix(&serve.url), "/cdh/resource/default/demo/key", &[]);
    assert_eq!((st, &body[..]), (200, &b"sidecar secret \x00\xff"[..]));
    let (st, _, _) = get(unix(&serve.url), "/cdh/resource/default/demo/none", &[]);
    assert_eq!(st, 404);
    let (st, _, _) = get(unix(&serve.url), "/cdh/resource/default/../key", &[]);
    assert_eq!(st, 400);

    // A second server on the live socket is refused; the first keeps serving.
    let out = sim_attester(&s.sim)
        .args(["serve"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("listening"),
        "{}",
        show(&out)
    );
    let (st, _, _) = get(unix(&serve.url), "/cdh/resource/default/demo/key", &[]);
    assert_eq!(st, 200);

    // Killed without cleanup, the stale socket file is replaced on the next start, with the
    // requested mode.
    drop(serve);
    assert!(sock.exists(), "SIGKILL leaves the socket file behind");
    let args2 = [
        "--listen",
        listen.as_str(),
        "--broker",
        s.broker.url.as_str(),
        "--socket-mode",
        "0660",
    ];
    let serve = start_serve(&s.sim, &args2, &[]);
    assert_eq!(mode(&sock), 0o660);
    let (st, _, _) = get(unix(&serve.url), "/cdh/resource/default/demo/key", &[]);
    assert_eq!(st, 200);
    drop(serve);

    // A path that exists and is not a socket is never removed: refused, file unchanged.
    let file = s.dir.join("not-a-socket");
    std::fs::write(&file, b"precious").unwrap();
    let out = sim_attester(&s.sim)
        .args(["serve", "--broker", &s.broker.url, "--listen"])
        .arg(format!("unix:{}", file.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a socket"),
        "{}",
        show(&out)
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"precious");
    // TCP-only flags are refused with a unix socket.
    let out = sim_attester(&s.sim)
        .args([
            "serve",
            "--broker",
            s.broker.url.as_str(),
            "--listen",
            listen.as_str(),
        ])
        .args(["--allow-host", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

#[test]
fn tcp_needs_bearer_token_and_known_host() {
    let Some(broker) = sibling("remits-broker") else {
        return;
    };
    let s = setup(&broker);
    let token_file = s.dir.join("cdh-token");
    let tf = token_file.to_str().unwrap();
    let base = ["--listen", "127.0.0.1:0", "--broker", s.broker.url.as_str()];
    let serve = start_serve(
        &s.sim,
        &[
            &base[..],
            &["--token-file", tf, "--allow-host", "Sidecar.Local"],
        ]
        .concat(),
        &[],
    );
    assert_eq!(mode(&token_file), 0o600);
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    let bearer = format!("Bearer {token}");
    let path = "/cdh/resource/default/demo/key";
    let ok_host = ("Host", "localhost:8006");

    // No token, another scheme, a wrong token (same length): 401 with a challenge.
    let wrong = format!("Bearer {}", "0".repeat(64));
    for auth in [None, Some("Basic dXNlcjpwYXNz"), Some(wrong.as_str())] {
        let mut h = vec![ok_host];
        h.extend(auth.map(|a| ("Authorization", a)));
        let (st, head, body) = get(tcp(&serve.url), path, &h);
        assert_eq!(st, 401, "{auth:?}: {head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("www-authenticate: bearer"),
            "{head}"
        );
        assert!(!body.windows(6).any(|w| w == b"secret"), "{auth:?}");
    }
    // The right token: the secret, for every allowed Host form.
    for host in [
        "localhost",
        "127.0.0.1:8006",
        "[::1]:8006",
        "LOCALHOST",
        "sidecar.local:1",
    ] {
        let (st, head, body) = get(
            tcp(&serve.url),
            path,
            &[("Host", host), ("Authorization", bearer.as_str())],
        );
        assert_eq!(st, 200, "{host}: {head}");
        assert_eq!(body, b"sidecar secret \x00\xff");
    }
    // DNS rebinding: another name, even with the token, is 421; so is a missing Host.
    for host in [
        Some("evil.example"),
        Some("evil.example:8006"),
        Some("localhost.evil"),
        None,
    ] {
        let mut h = vec![("Authorization", bearer.as_str())];
        h.extend(host.map(|v| ("Host", v)));
        let (st, head, _) = get(tcp(&serve.url), path, &h);
        assert_eq!(st, 421, "{host:?}: {head}");
    }
    // Malformed resource paths: 400.
    let auth = [ok_host, ("Authorization", bearer.as_str())];
    for bad in [
        "/cdh/resource/default/../key",
        "/cdh/resource/default//key",
        "/cdh/resource/default/demo",
        "/cdh/resource/default/demo/key/extra",
        "/cdh/resource/default/demo/k%2Fey",
        "/cdh/resource/default/demo/%2e%2e",
        "/cdh/resource/default/demo/k$y",
        "/cdh/resource",
        "/cdh/resource/",
    ] {
        let (st, head, _) = get(tcp(&serve.url), bad, &auth);
        assert_eq!(st, 400, "{bad}: {head}");
    }
    let (st, _, _) = get(tcp(&serve.url), "/cdh/resource/default/demo/none", &auth);
    assert_eq!(st, 404);
    let (st, _, _) = get(tcp(&serve.url), "/cdh/other", &auth);
    assert_eq!(st, 404);

    // A restart writes a new token; the old one no longer works.
    drop(serve);
    let serve = start_serve(&s.sim, &[&base[..], &["--token-file", tf]].concat(), &[]);
    let token2 = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_owned();
    assert_ne!(token, token2);
    let (st, _, _) = get(tcp(&serve.url), path, &auth);
    assert_eq!(st, 401);
    drop(serve);

    // Without --token-file: $RUNTIME_DIRECTORY/cdh-token, or refused.
    let rt = s.dir.join("runtime");
    std::fs::create_dir(&rt).unwrap();
    let serve = start_serve(&s.sim, &base, &[("RUNTIME_DIRECTORY", &rt)]);
    let token3 = std::fs::read_to_string(rt.join("cdh-token")).unwrap();
    let (st, _, _) = get(
        tcp(&serve.url),
        path,
        &[
            ok_host,
            (
                "Authorization",
                format!("Bearer {}", token3.trim()).as_str(),
            ),
        ],
    );
    assert_eq!(st, 200);
    drop(serve);
    let out = sim_attester(&s.sim)
        .arg("serve")
        .args(base)
        .env_remove("RUNTIME_DIRECTORY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--token-file"),
        "{}",
        show(&out)
    );
    // A non-loopback address is refused.
    let out = sim_attester(&s.sim)
        .args(["serve", "--listen", "0.0.0.0:0", "--broker", &s.broker.url])
        .args(["--token-file", tf])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

/// A malformed path is answered 400 before the broker is contacted: the "broker" here is a
/// listener that counts connections.
#[test]
fn bad_resource_path_never_reaches_the_broker() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", fake.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for c in fake.incoming() {
            h.fetch_add(1, Ordering::SeqCst);
            drop(c);
        }
    });
    let tf = tmp.path().join("t");
    let mut cmd = Command::new(ATTESTER);
    cmd.args(["--tee", "sample"]);
    let serve = {
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--broker", &url])
            .args(["--retry-for", "30", "--token-file"])
            .arg(&tf)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        spawn_announced(&mut cmd, "serve")
    };
    let token = std::fs::read_to_string(&tf).unwrap();
    let bearer = format!("Bearer {}", token.trim());
    let started = std::time::Instant::now();
    for bad in [
        "/cdh/resource/a/../b",
        "/cdh/resource/a//b",
        "/cdh/resource/a/b",
        "/cdh/resource/.a/b/c",
        "/cdh/resource/a/b/c%00",
    ] {
        let (st, _, body) = get(
            tcp(&serve.url),
            bad,
            &[("Host", "127.0.0.1"), ("Authorization", bearer.as_str())],
        );
        assert_eq!(st, 400, "{bad}: {}", String::from_utf8_lossy(&body));
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the broker was contacted");
}

/// `run` with a destination that already exists and a later one that cannot be written: the
/// run fails, the old file is back byte for byte, nothing else is left.
#[test]
fn run_rollback_restores_preexisting_file() {
    let Some(broker) = sibling("remits-broker") else {
        return;
    };
    let s = setup(&broker);
    let outside = s.dir.join("outside");
    std::fs::create_dir(&outside).unwrap();
    let existing = outside.join("config");
    let original: Vec<u8> = b"the workload's own file\n\x00\x01"
        .iter()
        .copied()
        .chain(0..=255u8)
        .collect();
    std::fs::write(&existing, &original).unwrap();
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o640)).unwrap();
    let blocker = s.dir.join("not-a-dir");
    std::fs::write(&blocker, b"").unwrap();
    let secrets = s.dir.join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    let marker = s.dir.join("started");
    let out = sim_attester(&s.sim)
        .args(["run", "--broker", &s.broker.url, "--retry-for", "5"])
        .arg("--secrets-dir")
        .arg(&secrets)
        .args(["--secret", "default/demo/key=key", "--secret"])
        .arg(format!("default/demo/key={}", existing.display()))
        .arg("--secret")
        .arg(format!(
            "default/demo/key={}",
            outside.join("new/sub/file").display()
        ))
        .arg("--secret")
        .arg(format!("default/demo/key={}", blocker.join("x").display()))
        .args(["--", "touch"])
        .arg(&marker)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("writing secret"),
        "{}",
        show(&out)
    );
    assert!(!marker.exists());
    assert_eq!(std::fs::read(&existing).unwrap(), original);
    assert_eq!(mode(&existing), 0o640);
    assert_eq!(entries(&outside), vec![existing.clone()]);
    assert!(entries(&secrets).is_empty(), "{:?}", entries(&secrets));
    assert_eq!(std::fs::read(&blocker).unwrap(), b"");

    // The same destinations without the unwritable one: delivered, no backup left behind.
    let out = sim_attester(&s.sim)
        .args([
            "run",
            "--broker",
            &s.broker.url,
            "--retry-for",
            "5",
            "--secret",
        ])
        .arg(format!("default/demo/key={}", existing.display()))
        .args(["--", "touch"])
        .arg(&marker)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(marker.exists());
    assert_eq!(
        std::fs::read(&existing).unwrap(),
        b"sidecar secret \x00\xff"
    );
    assert_eq!(entries(&outside), vec![existing.clone()]);
}
