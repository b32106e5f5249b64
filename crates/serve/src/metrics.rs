//! Prometheus metrics shared by the servers: per-endpoint request latency histograms, process
//! metrics from `/proc`, and the text exposition format 0.0.4 helpers; plus the layer
//! ([`observe`]) that records every request and writes one access-log line for it.
//!
//! Hand-written rather than a registry crate: the set is small and fixed, the text format is a
//! page of code, and the hot path is one read lock and three atomic additions. Labels are
//! bounded: `endpoint` is the route template (`/kbs/v0/resource/{*path}`), never the raw path,
//! and an unrouted request counts as `endpoint="unmatched"`; `method` is one of the standard
//! methods or `other`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;

/// The content type of the text exposition format this module writes.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds (seconds) of the request-latency buckets (`+Inf` is added).
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The `endpoint` label of requests that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// One histogram series: cumulative-on-render bucket counts, sum (nanoseconds) and count.
#[derive(Debug, Default)]
struct Series {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

impl Series {
    fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .zip(&self.buckets)
            .find(|(le, _)| secs <= **le);
        if let Some((_, b)) = bucket {
            b.fetch_add(1, Ordering::Relaxed);
        }
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// `(endpoint, method, status)`.
type Key = (String, &'static str, u16);

/// Series by endpoint, then by `(method, status)` (looked up without allocating).
type SeriesMap = HashMap<String, HashMap<(&'static str, u16), Arc<Series>>>;

/// Request metrics of one server: `remits_http_requests_total` and
/// `remits_http_request_duration_seconds`, labelled `endpoint`, `method`, `status`.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    series: RwLock<SeriesMap>,
}

/// The `method` label: standard methods by name, anything else `other`.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Escapes a label value (`\`, `"` and newline, as the text format requires).
pub fn escape_label(v: &str) -> String {
    let mut o = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

/// Writes `# HELP` and `# TYPE` lines.
pub fn write_header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Formats a sample value: integers without a fraction, others with enough digits.
fn num(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

impl HttpMetrics {
    /// Records one request.
    pub fn observe(&self, endpoint: &str, method: &Method, status: u16, took: Duration) {
        let m = method_label(method);
        let found = self
            .series
            .read()
            .ok()
            .and_then(|map| map.get(endpoint)?.get(&(m, status)).cloned());
        let series = match found {
            Some(s) => s,
            None => match self.series.write() {
                Ok(mut map) => map
                    .entry(endpoint.to_string())
                    .or_default()
                    .entry((m, status))
                    .or_default()
                    .clone(),
                Err(_) => return,
            },
        };
        series.observe(took);
    }

    /// Appends the request counter and the latency histogram in text format.
    pub fn render(&self, out: &mut String) {
        let mut rows: Vec<(Key, Arc<Series>)> = match self.series.read() {
            Ok(map) => map
                .iter()
                .flat_map(|(ep, by)| {
                    by.iter()
                        .map(move |((m, st), v)| ((ep.clone(), *m, *st), v.clone()))
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        // Read every series once, so the counter and the histogram agree.
        let snap: Vec<(String, [u64; LATENCY_BUCKETS.len()], u64, u64)> = rows
            .iter()
            .map(|((ep, m, st), s)| {
                let labels = format!(
                    "endpoint=\"{}\",method=\"{m}\",status=\"{st}\"",
                    escape_label(ep)
                );
                let count = s.count.load(Ordering::Relaxed);
                let b = s.buckets.each_ref().map(|b| b.load(Ordering::Relaxed));
                (labels, b, s.sum_nanos.load(Ordering::Relaxed), count)
            })
            .collect();
        write_header(
            out,
            "remits_http_requests_total",
            "counter",
            "HTTP requests answered, by route template, method and status.",
        );
        for (labels, _, _, count) in &snap {
            let _ = writeln!(out, "remits_http_requests_total{{{labels}}} {count}");
        }
        let name = "remits_http_request_duration_seconds";
        write_header(
            out,
            name,
            "histogram",
            "Time from request head received to response head sent, by route template, method and status.",
        );
        for (labels, buckets, sum, count) in &snap {
            let mut cum = 0u64;
            for (le, n) in LATENCY_BUCKETS.iter().zip(buckets) {
                cum = cum.saturating_add(*n);
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cum}");
            }
            // `+Inf` is the count itself (slower requests fall in no finite bucket).
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels},le=\"+Inf\"}} {}",
                count.max(&cum)
            );
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", *sum as f64 / 1e9);
            let _ = writeln!(out, "{name}_count{{{labels}}} {}", count.max(&cum));
        }
    }
}

/// Process metrics from `/proc/self` (Linux; elsewhere only what is known):
/// `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
/// `process_open_fds`, `process_max_fds`, `process_start_time_seconds`.
pub fn render_process(out: &mut String) {
    let p = ProcessStats::read();
    let mut gauge = |name: &str, kind: &str, help: &str, v: Option<f64>| {
        if let Some(v) = v {
            write_header(out, name, kind, help);
            let _ = writeln!(out, "{name} {}", num(v));
        }
    };
    gauge(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        p.cpu_seconds,
    );
    gauge(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        p.resident_bytes,
    );
    gauge(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        p.virtual_bytes,
    );
    gauge(
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
        p.open_fds,
    );
    gauge(
        "process_max_fds",
        "gauge",
        "Maximum number of open file descriptors.",
        crate::fd_limit().map(|n| n as f64),
    );
    gauge(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        p.start_time,
    );
}

/// What `/proc` says about this process; a field is `None` when it cannot be read.
#[derive(Debug, Default, Clone, Copy)]
struct ProcessStats {
    cpu_seconds: Option<f64>,
    resident_bytes: Option<f64>,
    virtual_bytes: Option<f64>,
    open_fds: Option<f64>,
    start_time: Option<f64>,
}

impl ProcessStats {
    fn read() -> Self {
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        let page = rustix::param::page_size() as f64;
        let mut p = ProcessStats::default();
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            // Fields after the command name (which may contain spaces) start at field 3.
            if let Some((_, rest)) = stat.rsplit_once(')') {
                let f: Vec<&str> = rest.split_whitespace().collect();
                // utime = field 14, stime = 15, starttime = 22, vsize = 23, rss = 24 (1-based).
                let at = |n: usize| f.get(n - 3).and_then(|s| s.parse::<f64>().ok());
                if let (Some(u), Some(s)) = (at(14), at(15)) {
                    p.cpu_seconds = Some((u + s) / ticks);
                }
                p.virtual_bytes = at(23);
                p.resident_bytes = at(24).map(|r| r * page);
                if let (Some(start), Some(boot)) = (at(22), boot_time()) {
                    p.start_time = Some(boot + start / ticks);
                }
            }
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            // The directory handle itself is one of the entries; do not count it.
            p.open_fds = Some(dir.count().saturating_sub(1) as f64);
        }
        p
    }
}

/// `btime` from `/proc/stat`: boot time, seconds since the epoch.
fn boot_time() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The middleware of [`observe`].
async fn record(State(m): State<Arc<HttpMetrics>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let endpoint = req.extensions().get::<MatchedPath>().cloned();
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let resp = next.run(req).await;
    let took = started.elapsed();
    let status = resp.status().as_u16();
    let route = endpoint.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    m.observe(route, &method, status, took);
    tracing::info!(
        target: "remits::access",
        method = %method,
        route = %route,
        status,
        duration_ms = took.as_secs_f64() * 1e3,
        client = %client.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
        "request"
    );
    resp
}

/// Wraps every route of `app` (and its fallback) so that each request is counted in `metrics`
/// under its route template and logged at info on target `remits::access` (method, route,
/// status, duration, client address). Apply it last, so that it also sees the answers of the
/// timeout and body-limit layers.
pub fn observe<S>(app: Router<S>, metrics: Arc<HttpMetrics>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    app.layer(axum::middleware::from_fn_with_state(metrics, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_counts_match() {
        let m = HttpMetrics::default();
        for ms in [0u64, 3, 3, 40, 20_000] {
            m.observe("/a/{x}", &Method::GET, 200, Duration::from_millis(ms));
        }
        let mut o = String::new();
        m.render(&mut o);
        assert!(
            o.contains(
                "remits_http_requests_total{endpoint=\"/a/{x}\",method=\"GET\",status=\"200\"} 5"
            ),
            "{o}"
        );
        assert!(o.contains("le=\"0.005\"} 3"), "{o}");
        assert!(o.contains("le=\"10\"} 4"), "{o}");
        assert!(o.contains("le=\"+Inf\"} 5"), "{o}");
        assert!(
            o.contains("_count{endpoint=\"/a/{x}\",method=\"GET\",status=\"200\"} 5"),
            "{o}"
        );
    }

    #[test]
    fn process_metrics_are_read() {
        let mut o = String::new();
        render_process(&mut o);
        if cfg!(target_os = "linux") {
            for n in [
                "process_cpu_seconds_total ",
                "process_resident_memory_bytes ",
                "process_open_fds ",
                "process_max_fds ",
                "process_start_time_seconds ",
            ] {
                assert!(o.contains(n), "{n}: {o}");
            }
        }
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
