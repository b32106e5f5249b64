//! `bench`: full handshakes against a broker, then one summary line.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use remits_evidence::attester::Attester;
use remits_kbs::client::{ClientOptions, KbsClient, SampleAttester};

use crate::BenchTee;

/// Arguments of the load test.
pub(crate) struct BenchArgs {
    pub(crate) broker: String,
    pub(crate) tee: BenchTee,
    pub(crate) concurrency: usize,
    pub(crate) handshakes: usize,
    pub(crate) path: String,
    pub(crate) sim_dir: PathBuf,
    pub(crate) ca: Option<PathBuf>,
}

/// Result line.
pub(crate) struct Report {
    pub(crate) per_s: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) errors: usize,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "handshakes_per_s={:.1} p50_ms={:.2} p99_ms={:.2} errors={}",
            self.per_s, self.p50_ms, self.p99_ms, self.errors
        )
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted
        .get(i.min(sorted.len() - 1))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

pub(crate) async fn run(a: BenchArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(
        a.concurrency > 0 && a.handshakes > 0,
        "concurrency and handshakes must be > 0"
    );
    let attester: Arc<dyn Attester> = match a.tee {
        BenchTee::Sample => Arc::new(SampleAttester),
        BenchTee::SimSnp => Arc::new(remits_sim::SimSnpAttester::load(&a.sim_dir)?),
    };
    let opts = ClientOptions {
        root_certs: a.ca.into_iter().collect(),
        ..Default::default()
    };
    // One connection pool shared by all clients (each handshake is still its own session).
    let http = {
        let mut b = reqwest::Client::builder()
            .timeout(opts.timeout)
            .pool_max_idle_per_host(a.concurrency)
            .tcp_nodelay(true);
        for p in &opts.root_certs {
            b = b.add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(p)?)?);
        }
        b.build()?
    };
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.concurrency {
        let (next, errors, attester, http, opts) = (
            next.clone(),
            errors.clone(),
            attester.clone(),
            http.clone(),
            opts.clone(),
        );
        let (broker, path, total) = (a.broker.clone(), a.path.clone(), a.handshakes);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let t0 = Instant::now();
                let r = match KbsClient::with_http(&broker, opts.clone(), http.clone()) {
                    Ok(mut c) => c.get_resource(&path, attester.as_ref()).await.map(|_| ()),
                    Err(e) => Err(e),
                };
                match r {
                    Ok(()) => lat.push(t0.elapsed()),
                    Err(e) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("handshake failed: {e}");
                        }
                    }
                }
            }
            lat
        }));
    }
    let mut all = Vec::with_capacity(a.handshakes);
    for t in tasks {
        all.extend(t.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    Ok(Report {
        per_s: all.len() as f64 / elapsed.max(1e-9),
        p50_ms: pct(&all, 0.50),
        p99_ms: pct(&all, 0.99),
        errors: errors.load(Ordering::Relaxed),
    })
}
