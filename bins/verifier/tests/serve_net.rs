//! `remits-verifier serve` connection hardening on loopback: idle and partial-header
//! connections are closed by the header timeout, a stalled body gets 408 within the request
//! timeout, and SIGTERM lets an in-flight request finish, then exits 0.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `remits-verifier serve` child on loopback, killed on drop.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(extra: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_remits-verifier"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--header-timeout-secs",
            "1",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Server { child, addr }
}

/// Reads until EOF/reset or `within`; returns what arrived and whether the peer closed.
fn read_until_closed(s: &mut TcpStream, within: Duration) -> (String, bool) {
    s.set_read_timeout(Some(within)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (String::from_utf8_lossy(&got).into_owned(), false)
            }
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), true),
        }
        if start.elapsed() > within {
            return (String::from_utf8_lossy(&got).into_owned(), false);
        }
    }
}

#[test]
fn idle_and_partial_header_connections_are_closed() {
    let server = start(&[]);
    let mut conns: Vec<TcpStream> = (0..40)
        .map(|i| {
            let mut s = TcpStream::connect(&server.addr).unwrap();
            if i % 2 == 0 {
                s.write_all(b"POST /attestation HTTP/1.1\r\nHost: x\r\nX-Slow: a")
                    .unwrap();
            }
            s
        })
        .collect();
    let started = Instant::now();
    for (i, s) in conns.iter_mut().enumerate() {
        let left = Duration::from_secs(5).saturating_sub(started.elapsed());
        let (_, closed) = read_until_closed(s, left.max(Duration::from_millis(10)));
        assert!(closed, "connection {i} open after {:?}", started.elapsed());
    }
}

#[test]
fn stalled_body_gets_408_within_the_request_timeout() {
    let server = start(&["--timeout-secs", "2"]);
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.write_all(
        b"POST /attestation HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 1000\r\n\r\n{\"tee\":",
    )
    .unwrap();
    let started = Instant::now();
    let (resp, _) = read_until_closed(&mut s, Duration::from_secs(8));
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn sigterm_drains_then_exits_zero() {
    let mut server = start(&["--timeout-secs", "20"]);
    let body = br#"{"tee":"sample","evidence":{}}"#;
    let (first, rest) = body.split_at(10);
    let mut s = TcpStream::connect(&server.addr).unwrap();
    write!(
        s,
        "POST /attestation HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(first).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let st = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "exited mid-request"
    );
    s.write_all(rest).unwrap();
    let (resp, _) = read_until_closed(&mut s, Duration::from_secs(10));
    // The sample TEE is not enabled: a complete answer (403) rather than a dropped connection.
    assert!(resp.starts_with("HTTP/1.1 "), "{resp:?}");
    assert!(!resp.starts_with("HTTP/1.1 408"), "{resp:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(st) = server.child.try_wait().unwrap() {
            assert_eq!(st.code(), Some(0), "{st}");
            break;
        }
        assert!(Instant::now() < deadline, "did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The canonical spellings: durations in humantime form (`2s`, `2m`), `/healthz` (and the
/// earlier `/health`) answered 200; a malformed duration is a usage error naming the flag.
#[test]
fn canonical_duration_flags_and_healthz() {
    let server = start(&[
        "--timeout",
        "2s",
        "--idle-timeout",
        "2m",
        "--drain-timeout",
        "5s",
    ]);
    for path in ["/healthz", "/health"] {
        let mut s = TcpStream::connect(&server.addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let (resp, _) = read_until_closed(&mut s, Duration::from_secs(5));
        assert!(resp.starts_with("HTTP/1.1 200"), "{path}: {resp:?}");
    }
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.write_all(
        b"POST /attestation HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 1000\r\n\r\n{\"tee\":",
    )
    .unwrap();
    let started = Instant::now();
    let (resp, _) = read_until_closed(&mut s, Duration::from_secs(8));
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp:?}");
    assert!(started.elapsed() < Duration::from_secs(5));

    let o = Command::new(env!("CARGO_BIN_EXE_remits-verifier"))
        .args(["serve", "--listen", "127.0.0.1:0", "--timeout", "soon"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--timeout") && err.contains("30s"), "{err}");
}
