//! Trust vectors, EAR status and human-readable explanations of a policy decision.
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The eight AR4SI trust claims, by their EAR names.
pub const TRUST_CLAIM_NAMES: [&str; 8] = [
    "instance-identity",
    "configuration",
    "executables",
    "file-system",
    "hardware",
    "runtime-opaque",
    "storage-opaque",
    "sourced-data",
];

/// EAR appraisal status (draft-ietf-rats-ear), derived from the worst trust claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EarStatus {
    /// No claim made an assertion.
    None,
    /// Every asserted claim is in the affirming tier.
    Affirming,
    /// At least one claim is in the warning tier.
    Warning,
    /// At least one claim is in the contraindicated tier.
    Contraindicated,
}

impl EarStatus {
    /// Tier of one AR4SI value: -1..=1 none, 2..=31 affirming, 32..=95 warning,
    /// 96..=127 contraindicated; negative values mirror the positive ones. Values outside
    /// -128..=127 are not AR4SI values and count as contraindicated (fail closed).
    pub fn of_claim(value: i64) -> EarStatus {
        if !(-128..=127).contains(&value) {
            return EarStatus::Contraindicated;
        }
        match value.unsigned_abs() {
            0 | 1 => EarStatus::None,
            2..=31 => EarStatus::Affirming,
            32..=95 => EarStatus::Warning,
            _ => EarStatus::Contraindicated,
        }
    }

    /// The EAR string form (`"affirming"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EarStatus::None => "none",
            EarStatus::Affirming => "affirming",
            EarStatus::Warning => "warning",
            EarStatus::Contraindicated => "contraindicated",
        }
    }
}

impl fmt::Display for EarStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An AR4SI trustworthiness vector: claim name -> value. Only claims the policy set are present.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TrustVector(pub BTreeMap<String, i64>);

impl TrustVector {
    /// The EAR status: the worst tier among the claims; `None` when no claim asserts anything.
    pub fn status(&self) -> EarStatus {
        self.0
            .values()
            .map(|v| EarStatus::of_claim(*v))
            .max()
            .unwrap_or(EarStatus::None)
    }

    /// Claims that are not in the affirming or none tier, with their value.
    pub fn non_affirming(&self) -> Vec<(&str, i64)> {
        self.0
            .iter()
            .filter(|(_, v)| EarStatus::of_claim(**v) > EarStatus::Affirming)
            .map(|(k, v)| (k.as_str(), *v))
            .collect()
    }
}

/// One check a policy reported in `data.policy.checks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Stable check identifier, e.g. `snp.debug`.
    pub id: String,
    /// The AR4SI claim this check feeds (`hardware`, `configuration`, `executables`, ...).
    #[serde(default)]
    pub category: String,
    /// The input claim(s) examined, e.g. `snp.policy_debug_allowed`.
    #[serde(default)]
    pub claim: String,
    /// The value the claim had (`null` when absent).
    #[serde(default)]
    pub actual: serde_json::Value,
    /// What the policy expected.
    #[serde(default)]
    pub expected: serde_json::Value,
    /// Whether the check passed.
    pub ok: bool,
}

/// Why a policy decided what it decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// Policy id that was evaluated.
    pub policy_id: String,
    /// Resulting status.
    pub status: EarStatus,
    /// The trust vector the policy produced.
    pub trust_vector: TrustVector,
    /// Every check the policy reported (empty for policies that report none).
    pub checks: Vec<Check>,
    /// Extra human reasons the policy gave in `data.policy.deny_reasons`.
    pub reasons: Vec<String>,
}

impl Explanation {
    /// Failed checks only.
    pub fn failed(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.ok)
    }

    /// A one-line summary: the status and the first failed checks or non-affirming claims.
    pub fn summary(&self) -> String {
        let failed: Vec<String> = self
            .failed()
            .map(|c| {
                format!(
                    "{} ({} = {}, expected {})",
                    c.id, c.claim, c.actual, c.expected
                )
            })
            .collect();
        if !failed.is_empty() {
            return format!("{}: failed {}", self.status, failed.join("; "));
        }
        let bad: Vec<String> = self
            .trust_vector
            .non_affirming()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if bad.is_empty() {
            format!("{} (policy {})", self.status, self.policy_id)
        } else {
            format!(
                "{}: {} (policy {})",
                self.status,
                bad.join(", "),
                self.policy_id
            )
        }
    }
}

impl fmt::Display for Explanation {
    /// Multi-line human form, as `remits-verifier verify --explain` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "policy:  {}", self.policy_id)?;
        writeln!(f, "status:  {}", self.status)?;
        write!(f, "vector: ")?;
        for (k, v) in &self.trust_vector.0 {
            write!(f, " {k}={v}({})", EarStatus::of_claim(*v))?;
        }
        writeln!(f)?;
        if self.checks.is_empty() {
            writeln!(f, "checks:  (the policy reports none)")?;
        }
        for c in &self.checks {
            let mark = if c.ok { "ok  " } else { "FAIL" };
            writeln!(
                f,
                "  [{mark}] {:<24} {:<14} {} = {}  expected {}",
                c.id, c.category, c.claim, c.actual, c.expected
            )?;
        }
        for r in &self.reasons {
            writeln!(f, "  reason: {r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers() {
        assert_eq!(EarStatus::of_claim(0), EarStatus::None);
        assert_eq!(EarStatus::of_claim(-1), EarStatus::None);
        assert_eq!(EarStatus::of_claim(2), EarStatus::Affirming);
        assert_eq!(EarStatus::of_claim(31), EarStatus::Affirming);
        assert_eq!(EarStatus::of_claim(32), EarStatus::Warning);
        assert_eq!(EarStatus::of_claim(-33), EarStatus::Warning);
        assert_eq!(EarStatus::of_claim(96), EarStatus::Contraindicated);
        assert_eq!(EarStatus::of_claim(-127), EarStatus::Contraindicated);
        assert_eq!(EarStatus::of_claim(1000), EarStatus::Contraindicated);
        let v = TrustVector([("hardware".into(), 2), ("executables".into(), 33)].into());
        assert_eq!(v.status(), EarStatus::Warning);
        assert_eq!(TrustVector::default().status(), EarStatus::None);
    }
}
