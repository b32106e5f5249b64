//! Hand-rolled Prometheus counters (no registry crate needed for a dozen numbers).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters exported at `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// `/auth` requests.
    pub auth_total: AtomicU64,
    /// Successful attestations.
    pub attest_ok: AtomicU64,
    /// Refused or failed attestations.
    pub attest_failed: AtomicU64,
    /// Sum of attestation handling time, microseconds.
    pub attest_micros: AtomicU64,
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
}

impl Metrics {
    /// Adds one.
    pub fn inc(&self, c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn observe_attest(&self, ok: bool, took: Duration) {
        self.inc(if ok {
            &self.attest_ok
        } else {
            &self.attest_failed
        });
        self.attest_micros.fetch_add(
            took.as_micros().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
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

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut o = String::new();
        let _ = writeln!(
            o,
            "# HELP kbs_auth_total Challenges issued.\n# TYPE kbs_auth_total counter"
        );
        let _ = writeln!(o, "kbs_auth_total {}", g(&self.auth_total));
        let _ = writeln!(
            o,
            "# HELP kbs_attest_total Attestations by result.\n# TYPE kbs_attest_total counter"
        );
        let _ = writeln!(
            o,
            "kbs_attest_total{{result=\"ok\"}} {}",
            g(&self.attest_ok)
        );
        let _ = writeln!(
            o,
            "kbs_attest_total{{result=\"refused\"}} {}",
            g(&self.attest_failed)
        );
        let _ = writeln!(o, "# HELP kbs_attest_seconds_sum Time spent in /attest.\n# TYPE kbs_attest_seconds_sum counter");
        let _ = writeln!(
            o,
            "kbs_attest_seconds_sum {:.6}",
            g(&self.attest_micros) as f64 / 1e6
        );
        let _ = writeln!(o, "# HELP kbs_resource_total Resource requests by outcome.\n# TYPE kbs_resource_total counter");
        for (label, c) in [
            ("released", &self.resource_ok),
            ("unauthenticated", &self.resource_unauthenticated),
            ("denied", &self.resource_denied),
            ("not_found", &self.resource_not_found),
            ("error", &self.resource_error),
        ] {
            let _ = writeln!(o, "kbs_resource_total{{outcome=\"{label}\"}} {}", g(c));
        }
        let _ = writeln!(
            o,
            "# HELP kbs_admin_total Admin requests by outcome.\n# TYPE kbs_admin_total counter"
        );
        let _ = writeln!(
            o,
            "kbs_admin_total{{outcome=\"applied\"}} {}",
            g(&self.admin_ok)
        );
        let _ = writeln!(
            o,
            "kbs_admin_total{{outcome=\"refused\"}} {}",
            g(&self.admin_refused)
        );
        o
    }
}
