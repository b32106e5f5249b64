//! Loopback ports and raw HTTP/1.1 on them: requests are written by hand on a fresh connection
//! (`Connection: close`), so tests need no HTTP client and no async runtime to probe a server.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// A free loopback port (bound, read, released: another process may take it before use).
///
/// # Panics
/// When no loopback port can be bound.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A free loopback port `p` with `p + 1` also free: swtpm's TCTI in tpm2-tools always finds
/// the control channel at the next port.
///
/// # Panics
/// When no such pair is found in 200 tries.
pub fn free_port_pair() -> u16 {
    for _ in 0..200 {
        let p = free_port();
        if p < u16::MAX && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no pair of adjacent free loopback ports");
}

/// `host:port` of an `http://` or `https://` URL.
pub fn hostport(url: &str) -> &str {
    url.trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
}

/// One raw HTTP/1.1 request `req` on a fresh connection to `addr`: the status code and the
/// whole response as text, or `None` on a network error or no answer within `timeout`.
pub fn raw_request(addr: &str, req: &str, timeout: Duration) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.get(9..12)?.parse().ok()?;
    Some((status, text))
}

/// Status of `GET path` on `addr` (10 s timeout), or `None` when nothing answers.
pub fn get_status(addr: &str, path: &str) -> Option<u16> {
    raw_request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        Duration::from_secs(10),
    )
    .map(|r| r.0)
}

/// Raw HTTP/1.1 `GET path` on `hostport` (60 s timeout): `(status, body)`, the body de-chunked
/// when the response is chunked; `None` when nothing answers.
pub fn http_get(hostport: &str, path: &str) -> Option<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(hostport).ok()?;
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

/// One HTTP/1.1 `GET path` over the connection `s` with `headers` (after `Connection: close`):
/// `(status, head, body)`; the body is returned as received (not de-chunked).
///
/// # Panics
/// When the exchange fails or the answer has no status line and head.
pub fn get_over<S: Read + Write>(
    mut s: S,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, Vec<u8>) {
    let mut req = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no response head");
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head, buf[end + 4..].to_vec())
}

/// The payload of a chunked body (stops at the last chunk or at the first malformed one).
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..i]).trim(), 16).unwrap_or(0);
        let Some(chunk) = b.get(i + 2..i + 2 + n) else {
            break;
        };
        if n == 0 {
            break;
        }
        out.extend_from_slice(chunk);
        b = b.get(i + 2 + n + 2..).unwrap_or_default();
    }
    out
}

/// Whether `GET /healthz` on the server at `url` answers `HTTP/1.1 200`. For an `https://` URL
/// a TCP connection is enough (no TLS client here).
pub fn healthz(url: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(hostport(url)) else {
        return false;
    };
    if url.starts_with("https://") {
        return true;
    }
    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.1 200")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dechunks_and_stops_on_malformed_input() {
        assert_eq!(dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), b"abcde");
        assert_eq!(dechunk(b"9\r\nabc"), b"");
        assert_eq!(hostport("https://127.0.0.1:8/"), "127.0.0.1:8");
    }
}
