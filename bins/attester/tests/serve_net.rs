//! `remits-attester serve` connection hardening on loopback: idle and partial-header
//! connections are closed by the header timeout; SIGTERM stops it with exit 0.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use remits_testsupport::process::{spawn_announced, Proc};

fn start(token_file: &std::path::Path) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_remits-attester"));
    cmd.args([
        "serve",
        "--tee",
        "sample",
        "--listen",
        "127.0.0.1:0",
        "--broker",
        "http://127.0.0.1:9",
        "--header-timeout-secs",
        "1",
        "--token-file",
    ])
    .arg(token_file)
    .env("REMITS_LOG", "warn")
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    spawn_announced(&mut cmd, "serve")
}

#[test]
fn idle_and_partial_header_connections_are_closed_and_sigterm_exits_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let mut serve = start(&tmp.path().join("token"));
    let mut conns: Vec<TcpStream> = (0..40)
        .map(|i| {
            let mut s = TcpStream::connect(&serve.url).unwrap();
            if i % 2 == 0 {
                s.write_all(b"GET /cdh/resource/a/b/c HTTP/1.1\r\nHost: x\r\nX-Slow: a")
                    .unwrap();
            }
            s
        })
        .collect();
    let started = Instant::now();
    for (i, s) in conns.iter_mut().enumerate() {
        let left = Duration::from_secs(5).saturating_sub(started.elapsed());
        s.set_read_timeout(Some(left.max(Duration::from_millis(10))))
            .unwrap();
        let mut buf = [0u8; 256];
        let closed = match s.read(&mut buf) {
            Ok(_) => true,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        };
        assert!(closed, "connection {i} open after {:?}", started.elapsed());
    }
    let st = Command::new("kill")
        .args(["-TERM", &serve.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(st) = serve.child.try_wait().unwrap() {
            assert_eq!(st.code(), Some(0), "{st}");
            break;
        }
        assert!(Instant::now() < deadline, "did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET /healthz` answers 200 without the bearer token (a probe cannot know it), as on every
/// remits server; everything else still needs it.
#[test]
fn healthz_without_token() {
    let tmp = tempfile::tempdir().unwrap();
    let serve = start(&tmp.path().join("token"));
    let get = |path: &str| {
        let mut s = TcpStream::connect(&serve.url).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut resp = String::new();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.read_to_string(&mut resp);
        resp
    };
    let r = get("/healthz");
    assert!(r.starts_with("HTTP/1.1 200") && r.ends_with("ok"), "{r:?}");
    let r = get("/aa/token?token_type=kbs");
    assert!(r.starts_with("HTTP/1.1 401"), "{r:?}");
}
