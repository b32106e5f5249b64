//! The broker's `/metrics`: outcome counters (`kbs_*_total`), per-route request latency
//! histograms and access logs ([`remits_serve::metrics`]), store errors by operation
//! ([`MeteredStore`]) and process metrics, in Prometheus text format 0.0.4.
//!
//! Hand-written (see `remits_serve::metrics` for why): the set is fixed and small.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use remits_serve::metrics::write_header;
use remits_serve::HttpMetrics;
use remits_store::{Namespace, Store, StoreError, TxWrite};
use zeroize::Zeroizing;

/// Counters exported at `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// `/auth` requests.
    pub auth_total: AtomicU64,
    /// Successful attestations.
    pub attest_ok: AtomicU64,
    /// Refused or failed attestations.
    pub attest_failed: AtomicU64,
    /// Resources released.
    pub resource_ok: AtomicU64,
    /// Resource requests refused as unauthenticated (401).
    pub resource_unauthenticated: AtomicU64,
    /// Resource requests denied by policy (403).
    pub resource_denied: AtomicU64,
    /// Resource requests for a missing resource or invalid path (404).
    pub resource_not_found: AtomicU64,
    /// Other resource failures.
    pub resource_error: AtomicU64,
    /// Admin changes applied.
    pub admin_ok: AtomicU64,
    /// Admin requests refused at authentication.
    pub admin_refused: AtomicU64,
    /// Requests by route template, method and status, with latency histograms.
    pub http: Arc<HttpMetrics>,
    /// Store operations that failed, by operation (shared with every [`MeteredStore`]).
    pub store_errors: Arc<StoreErrors>,
}

/// Failed store operations, by operation.
#[derive(Debug, Default)]
pub struct StoreErrors {
    get: AtomicU64,
    put: AtomicU64,
    delete: AtomicU64,
    list: AtomicU64,
    compare_and_swap: AtomicU64,
    purge_expired: AtomicU64,
}

impl StoreErrors {
    fn rows(&self) -> [(&'static str, &AtomicU64); 6] {
        [
            ("get", &self.get),
            ("put", &self.put),
            ("delete", &self.delete),
            ("list", &self.list),
            ("compare_and_swap", &self.compare_and_swap),
            ("purge_expired", &self.purge_expired),
        ]
    }

    /// Failures of `op` so far (`get`, `put`, `delete`, `list`, `compare_and_swap`,
    /// `purge_expired`); 0 for an unknown name.
    pub fn count(&self, op: &str) -> u64 {
        self.rows()
            .iter()
            .find(|(n, _)| *n == op)
            .map_or(0, |(_, c)| c.load(Ordering::Relaxed))
    }

    fn track<T>(&self, c: &AtomicU64, r: Result<T, StoreError>) -> Result<T, StoreError> {
        if r.is_err() {
            c.fetch_add(1, Ordering::Relaxed);
        }
        r
    }
}

/// A [`Store`] that counts the failures of the store it wraps in [`StoreErrors`]; everything
/// else (including [`Store::change_epoch`], which read caches rely on) passes through.
pub struct MeteredStore {
    inner: Arc<dyn Store>,
    errors: Arc<StoreErrors>,
}

#[async_trait::async_trait]
impl Store for MeteredStore {
    async fn get(
        &self,
        ns: Namespace,
        key: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let r = self.inner.get(ns, key).await;
        self.errors.track(&self.errors.get, r)
    }

    async fn put(
        &self,
        ns: Namespace,
        key: &str,
        value: &[u8],
        expires_at: Option<SystemTime>,
    ) -> Result<(), StoreError> {
        let r = self.inner.put(ns, key, value, expires_at).await;
        self.errors.track(&self.errors.put, r)
    }

    async fn delete(&self, ns: Namespace, key: &str) -> Result<bool, StoreError> {
        let r = self.inner.delete(ns, key).await;
        self.errors.track(&self.errors.delete, r)
    }

    async fn list(&self, ns: Namespace, prefix: &str) -> Result<Vec<String>, StoreError> {
        let r = self.inner.list(ns, prefix).await;
        self.errors.track(&self.errors.list, r)
    }

    async fn compare_and_swap(
        &self,
        ns: Namespace,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        expires_at: Option<SystemTime>,
    ) -> Result<bool, StoreError> {
        let r = self
            .inner
            .compare_and_swap(ns, key, expected, new, expires_at)
            .await;
        self.errors.track(&self.errors.compare_and_swap, r)
    }

    async fn transact(&self, writes: &[TxWrite<'_>]) -> Result<bool, StoreError> {
        let r = self.inner.transact(writes).await;
        self.errors.track(&self.errors.compare_and_swap, r)
    }

    async fn purge_expired(&self) -> Result<u64, StoreError> {
        let r = self.inner.purge_expired().await;
        self.errors.track(&self.errors.purge_expired, r)
    }

    fn change_epoch(&self, ns: Namespace) -> Option<u64> {
        self.inner.change_epoch(ns)
    }
}

impl Metrics {
    /// Adds one.
    pub fn inc(&self, c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// `store`, with its failures counted in `remits_store_errors_total`.
    pub fn metered(&self, store: Arc<dyn Store>) -> Arc<dyn Store> {
        Arc::new(MeteredStore {
            inner: store,
            errors: self.store_errors.clone(),
        })
    }

    pub(super) fn observe_attest(&self, ok: bool) {
        self.inc(if ok {
            &self.attest_ok
        } else {
            &self.attest_failed
        });
    }

    pub(super) fn observe_resource(&self, status: u16) {
        self.inc(match status {
            200 => &self.resource_ok,
            401 => &self.resource_unauthenticated,
            403 => &self.resource_denied,
            404 => &self.resource_not_found,
            _ => &self.resource_error,
        });
    }

    /// Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut o = String::with_capacity(8 << 10);
        write_header(
            &mut o,
            "kbs_auth_total",
            "counter",
            "Challenges issued (/auth requests).",
        );
        let _ = writeln!(o, "kbs_auth_total {}", g(&self.auth_total));
        write_header(
            &mut o,
            "kbs_attest_total",
            "counter",
            "Attestations (/attest) by result.",
        );
        for (label, c) in [("ok", &self.attest_ok), ("refused", &self.attest_failed)] {
            let _ = writeln!(o, "kbs_attest_total{{result=\"{label}\"}} {}", g(c));
        }
        write_header(
            &mut o,
            "kbs_resource_total",
            "counter",
            "Resource requests by outcome.",
        );
        for (label, c) in [
            ("released", &self.resource_ok),
            ("unauthenticated", &self.resource_unauthenticated),
            ("denied", &self.resource_denied),
            ("not_found", &self.resource_not_found),
            ("error", &self.resource_error),
        ] {
            let _ = writeln!(o, "kbs_resource_total{{outcome=\"{label}\"}} {}", g(c));
        }
        write_header(
            &mut o,
            "kbs_admin_total",
            "counter",
            "Admin requests by outcome.",
        );
        for (label, c) in [
            ("applied", &self.admin_ok),
            ("refused", &self.admin_refused),
        ] {
            let _ = writeln!(o, "kbs_admin_total{{outcome=\"{label}\"}} {}", g(c));
        }
        write_header(
            &mut o,
            "remits_store_errors_total",
            "counter",
            "Store operations that failed, by operation.",
        );
        for (op, c) in self.store_errors.rows() {
            let _ = writeln!(o, "remits_store_errors_total{{op=\"{op}\"}} {}", g(c));
        }
        self.http.render(&mut o);
        remits_serve::metrics::render_process(&mut o);
        o
    }
}
