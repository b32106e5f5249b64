//! The per-TEE driver seam: evidence JSON + expected bindings + time in, typed claims out.
//!
//! An embedding project adds a TEE by implementing [`TeeDriver`] and registering it with
//! [`crate::AttestationService::register_driver`] or [`crate::Drivers::register`].
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Map, Value};

use crate::binding::ReportDataCheck;
use crate::Error;

/// What the evidence must be bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The report-data comparison (runtime-data digest, explicit value, or explicitly none).
    pub report_data: ReportDataCheck,
    /// The init-data digest (bound to SNP HOST_DATA, or PCR8 = SHA-256(0^32 || digest));
    /// `None`: init-data is not checked, and the token says so.
    pub init_data: Option<Vec<u8>>,
}

/// What a driver returns after every check passed.
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a verification result: use it (or bind it to `_` to drop it on purpose)"]
pub struct DriverOutput {
    /// Claims under trustee's names for this TEE (the object placed at `input.<tee>`).
    pub claims: Map<String, Value>,
    /// Whether `Expected::report_data` was compared. Must be true unless it was
    /// [`ReportDataCheck::Unchecked`]; the service refuses the result otherwise.
    pub report_data_checked: bool,
    /// Whether `Expected::init_data` was compared (false when it was `None`).
    pub init_data_checked: bool,
}

/// A verifier for one kind of TEE evidence.
pub trait TeeDriver: Send + Sync {
    /// The TEE name (`snp`, `az-snp-vtpm`, ...): the request's `tee` and the key under which the
    /// claims appear in the policy input.
    fn name(&self) -> &str;

    /// The EAR submodule class (`cpu`, `gpu`, ...). The submodule is `<class>0`.
    fn tee_class(&self) -> &str {
        "cpu"
    }

    /// Verify `evidence` at time `now`. Must check every signature over the received bytes and
    /// compare every `expected` binding that is set, before returning claims.
    ///
    /// # Errors
    ///
    /// [`Error::EvidenceRejected`] when the evidence is malformed or a check fails,
    /// [`Error::Binding`] when an expected binding does not match.
    fn verify(
        &self,
        evidence: &Value,
        expected: &Expected,
        now: SystemTime,
    ) -> Result<DriverOutput, Error>;
}

/// A registry of drivers by name.
#[derive(Clone, Default)]
pub struct Drivers {
    map: BTreeMap<String, Arc<dyn TeeDriver>>,
}

impl std::fmt::Debug for Drivers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.map.keys()).finish()
    }
}

impl Drivers {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add (or replace) a driver under its name.
    pub fn register(&mut self, driver: Arc<dyn TeeDriver>) {
        self.map.insert(driver.name().to_string(), driver);
    }

    /// The driver for a TEE name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn TeeDriver>> {
        self.map.get(name)
    }

    /// Names of the registered drivers.
    pub fn names(&self) -> Vec<&str> {
        self.map.keys().map(String::as_str).collect()
    }
}

/// Compare an expected binding with the evidence's field in constant time; `Binding` error
/// with both values in hex otherwise.
///
/// # Errors
///
/// [`Error::Binding`] naming `what`, with both values in hex, when they differ.
pub fn compare_binding(
    tee: &str,
    what: &'static str,
    expected: &[u8],
    actual: &[u8],
) -> Result<(), Error> {
    use subtle::ConstantTimeEq;
    if expected.len() == actual.len() && bool::from(expected.ct_eq(actual)) {
        Ok(())
    } else {
        Err(Error::Binding {
            tee: tee.to_string(),
            what,
            expected: hex::encode(expected),
            actual: hex::encode(actual),
        })
    }
}
