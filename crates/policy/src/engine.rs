//! The policy engine: parse once, cache by (id, content hash), evaluate many times.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::explain::{Check, EarStatus, Explanation, TrustVector, TRUST_CLAIM_NAMES};
use crate::{Error, ReferenceValues};

/// Cap on the policy text size (bytes); larger policies are refused before parsing.
pub const MAX_POLICY_LEN: usize = 1 << 20;

/// The outcome of an attestation policy.
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a verification result: use it (or bind it to `_` to drop it on purpose)"]
pub struct AttestationOutcome {
    /// AR4SI trust vector (`data.policy.trust_claims`).
    pub trust_vector: TrustVector,
    /// Status derived from the vector.
    pub status: EarStatus,
    /// Optional `data.policy.extensions` (trustee convention: `[{name, key, value}]`).
    pub extensions: Option<Value>,
    /// Why.
    pub explanation: Explanation,
}

/// The outcome of a resource policy (`data.policy.allow`).
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a verification result: use it (or bind it to `_` to drop it on purpose)"]
pub struct ResourceDecision {
    /// `data.policy.allow == true`.
    pub allow: bool,
    /// `data.policy.deny_reasons`, when the policy defines it.
    pub reasons: Vec<String>,
}

/// Most data documents (resource paths) kept prepared per resource policy; beyond it an
/// evaluation prepares a fresh clone (still correct, just slower), so memory stays bounded.
const MAX_PREPARED_DATA: usize = 256;

struct Compiled {
    hash: [u8; 32],
    /// Parsed and prepared (analysed and scheduled) once, without input or data. Every
    /// evaluation works on a clone, which shares the parsed modules and the schedule.
    engine: regorus::Engine,
    /// Prepared engines with a data document merged in (resource policies: one per resource
    /// path), keyed by the document's JSON text. Bounded by [`MAX_PREPARED_DATA`].
    with_data: Mutex<HashMap<String, regorus::Engine>>,
}

/// Run regorus' one-time preparation (module analysis, scheduling, rule gathering) now, so
/// clones of `engine` evaluate without repeating it. The query itself reads no rule.
fn prepare(engine: &mut regorus::Engine, id: &str) -> Result<(), Error> {
    engine
        .eval_query("true".to_string(), false)
        .map(|_| ())
        .map_err(|e| Error::Parse {
            id: id.into(),
            reason: source_free(&e.to_string()),
        })
}

/// A regorus parse or compile error without the policy text it quotes: regorus prints
/// `--> file:line:col`, the offending source line with a caret, then `error: message`. The
/// policy text may be a secret file given by mistake, so only `line L, column C: message`
/// (the message with quoted fragments redacted) is kept.
fn source_free(msg: &str) -> String {
    let pos = msg.lines().find_map(|l| {
        let loc = l.trim().strip_prefix("--> ")?;
        let mut it = loc.rsplitn(3, ':');
        let col = it.next()?.parse::<u32>().ok()?;
        let line = it.next()?.parse::<u32>().ok()?;
        Some((line, col))
    });
    let text = msg
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or(msg);
    let reason = remits_evidence::parse_error::reason(text);
    match pos {
        Some((l, c)) => format!("line {l}, column {c}: {reason}"),
        None => reason,
    }
}

/// A thread-safe cache of parsed policies. Cloning an [`PolicyEngine`] shares the cache.
#[derive(Clone, Default)]
pub struct PolicyEngine {
    cache: Arc<Mutex<HashMap<String, Arc<Compiled>>>>,
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEngine").finish_non_exhaustive()
    }
}

fn hash(rego: &str) -> [u8; 32] {
    Sha256::digest(rego.as_bytes()).into()
}

fn to_regorus(v: &Value) -> Result<regorus::Value, Error> {
    use serde::Deserialize as _;
    regorus::Value::deserialize(v).map_err(|e| Error::Input(e.to_string()))
}

impl Compiled {
    /// A prepared clone of the engine with `data` merged in, from the per-data cache when
    /// this document was seen before.
    fn with_data(&self, id: &str, data: &Value) -> Result<regorus::Engine, Error> {
        let key = serde_json::to_string(data).map_err(|e| Error::Input(format!("data: {e}")))?;
        if let Ok(cache) = self.with_data.lock() {
            if let Some(e) = cache.get(&key) {
                return Ok(e.clone());
            }
        }
        let mut engine = self.engine.clone();
        engine
            .add_data(to_regorus(data)?)
            .map_err(|e| Error::Input(format!("data: {e}")))?;
        prepare(&mut engine, id)?;
        if let Ok(mut cache) = self.with_data.lock() {
            if cache.len() < MAX_PREPARED_DATA {
                cache.insert(key, engine.clone());
            }
        }
        Ok(engine)
    }
}

impl PolicyEngine {
    /// An empty engine.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse (or fetch from the cache) the policy `rego` under `id`. A different text under
    /// the same id replaces the cached entry. Call it to validate a policy before storing it.
    ///
    /// # Errors
    ///
    /// [`Error::Parse`] when the text is not valid Rego (line, column and reason).
    pub fn compile(&self, id: &str, rego: &str) -> Result<(), Error> {
        self.compiled(id, rego).map(|_| ())
    }

    /// Number of cached policies (for tests and metrics).
    pub fn cached(&self) -> usize {
        self.cache.lock().map(|c| c.len()).unwrap_or(0)
    }

    fn compiled(&self, id: &str, rego: &str) -> Result<Arc<Compiled>, Error> {
        let h = hash(rego);
        if let Ok(cache) = self.cache.lock() {
            if let Some(c) = cache.get(id) {
                if c.hash == h {
                    return Ok(c.clone());
                }
            }
        }
        if rego.len() > MAX_POLICY_LEN {
            return Err(Error::Parse {
                id: id.into(),
                reason: format!(
                    "policy is {} bytes, the limit is {MAX_POLICY_LEN}",
                    rego.len()
                ),
            });
        }
        let mut engine = regorus::Engine::new();
        engine.set_rego_v0(false);
        engine
            .add_policy(format!("{id}.rego"), rego.to_string())
            .map_err(|e| Error::Parse {
                id: id.into(),
                reason: source_free(&e.to_string()),
            })?;
        prepare(&mut engine, id)?;
        let c = Arc::new(Compiled {
            hash: h,
            engine,
            with_data: Mutex::new(HashMap::new()),
        });
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(id.to_string(), c.clone());
        }
        Ok(c)
    }

    /// Forget a cached policy.
    pub fn evict(&self, id: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(id);
        }
    }

    /// An engine for `rego` (compiled once, cached) with `data`, `input` and the
    /// `query_reference_value` extension answering from `rv`, ready to evaluate.
    fn engine_for(
        &self,
        id: &str,
        rego: &str,
        input: &Value,
        data: Option<&Value>,
        rv: Option<Arc<ReferenceValues>>,
    ) -> Result<regorus::Engine, Error> {
        let compiled = self.compiled(id, rego)?;
        let mut engine = match data {
            None => compiled.engine.clone(),
            Some(d) => compiled.with_data(id, d)?,
        };
        let rv = rv.unwrap_or_default();
        engine
            .add_extension(
                "query_reference_value".to_string(),
                1,
                Box::new(move |args: Vec<regorus::Value>| {
                    let name = match args.first() {
                        Some(regorus::Value::String(s)) => s.to_string(),
                        _ => anyhow_err("query_reference_value expects a string")?,
                    };
                    match rv.get(&name) {
                        Some(vals) => serde_json::from_value(Value::Array(vals.to_vec()))
                            .or_else(|e| anyhow_err(&e.to_string())),
                        None => Ok(regorus::Value::Null),
                    }
                }),
            )
            .map_err(|e| Error::Eval {
                id: id.into(),
                reason: e.to_string(),
            })?;
        engine.set_input(to_regorus(input)?);
        Ok(engine)
    }

    /// Every rule of package `policy`, as one JSON object.
    fn eval_package(&self, id: &str, mut engine: regorus::Engine) -> Result<Value, Error> {
        let res = engine
            .eval_query("data.policy".to_string(), false)
            .map_err(|e| Error::Eval {
                id: id.into(),
                reason: e.to_string(),
            })?;
        let v = res
            .result
            .into_iter()
            .next()
            .and_then(|r| r.expressions.into_iter().next())
            .map(|e| e.value)
            .ok_or_else(|| Error::Output {
                id: id.into(),
                reason: "package `policy` produced nothing".into(),
            })?;
        serde_json::to_value(&v).map_err(|e| Error::Output {
            id: id.into(),
            reason: e.to_string(),
        })
    }

    /// Evaluate an attestation policy (package `policy`) over `input` (the annotated evidence),
    /// with `query_reference_value` answering from `rv`.
    ///
    /// # Errors
    ///
    /// [`Error::Parse`] when the policy does not compile, [`Error::Eval`] when evaluation fails,
    /// [`Error::Output`] when the output lacks `trust_claims` or has values of the wrong shape.
    ///
    /// Required output: `data.policy.trust_claims`, an object of AR4SI names (only the eight
    /// known names) to integers, at least one set. Optional: `checks`, `deny_reasons`,
    /// `extensions`.
    pub fn evaluate_attestation(
        &self,
        id: &str,
        rego: &str,
        input: &Value,
        rv: Arc<ReferenceValues>,
    ) -> Result<AttestationOutcome, Error> {
        let engine = self.engine_for(id, rego, input, None, Some(rv))?;
        let out = self.eval_package(id, engine)?;
        let bad = |reason: String| Error::Output {
            id: id.into(),
            reason,
        };
        let tc = out
            .get("trust_claims")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("data.policy.trust_claims is missing or not an object".into()))?;
        let mut vector = TrustVector::default();
        for (k, v) in tc {
            if !TRUST_CLAIM_NAMES.contains(&k.as_str()) {
                return Err(bad(format!("trust_claims: unknown AR4SI claim {k:?}")));
            }
            let n = v
                .as_i64()
                .filter(|n| (-128..=127).contains(n))
                .ok_or_else(|| bad(format!("trust_claims.{k}: {v} is not an AR4SI value")))?;
            vector.0.insert(k.clone(), n);
        }
        if vector.0.is_empty() {
            return Err(bad("trust_claims is empty".into()));
        }
        let mut checks: Vec<Check> = match out.get("checks") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => {
                serde_json::from_value(v.clone()).map_err(|e| bad(format!("checks: {e}")))?
            }
        };
        checks.sort_by(|a, b| a.id.cmp(&b.id).then(a.ok.cmp(&b.ok)));
        let reasons = string_list(out.get("deny_reasons")).map_err(bad)?;
        let status = vector.status();
        let extensions = out.get("extensions").cloned();
        Ok(AttestationOutcome {
            explanation: Explanation {
                policy_id: id.into(),
                status,
                trust_vector: vector.clone(),
                checks,
                reasons,
            },
            trust_vector: vector,
            status,
            extensions,
        })
    }

    /// Evaluate a resource policy: `data.policy.allow` over `input` (token claims) and `data`
    /// (trustee: `{"plugin","resource-path","query"}`). Anything but `true` denies.
    ///
    /// # Errors
    ///
    /// [`Error::Parse`] when the policy does not compile, [`Error::Eval`] when evaluation fails,
    /// [`Error::Output`] when `checks` or `deny_reasons` have the wrong shape.
    pub fn evaluate_resource(
        &self,
        id: &str,
        rego: &str,
        input: &Value,
        data: &Value,
    ) -> Result<ResourceDecision, Error> {
        let mut engine = self.engine_for(id, rego, input, Some(data), None)?;
        // Fast path: only `allow` is needed to release. Anything but `true` (false, undefined,
        // no such rule, an evaluation error) falls through to the whole package, which decides
        // exactly as before and also yields the `deny_reasons` (each evaluation starts from a
        // clean evaluation state).
        if let Ok(regorus::Value::Bool(true)) = engine.eval_rule("data.policy.allow".into()) {
            return Ok(ResourceDecision {
                allow: true,
                reasons: Vec::new(),
            });
        }
        let out = self.eval_package(id, engine)?;
        let allow = out.get("allow") == Some(&Value::Bool(true));
        let reasons = string_list(out.get("deny_reasons")).map_err(|reason| Error::Output {
            id: id.into(),
            reason,
        })?;
        Ok(ResourceDecision { allow, reasons })
    }
}

fn string_list(v: Option<&Value>) -> Result<Vec<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => Ok(a
            .iter()
            .map(|x| match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect()),
        Some(other) => Err(format!(
            "deny_reasons must be a set of strings, got {other}"
        )),
    }
}

fn anyhow_err<T>(msg: &str) -> Result<T, anyhow::Error> {
    Err(anyhow::anyhow!("{msg}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RESOURCE: &str = r#"package policy
default allow := false
allow if { data["resource-path"][0] == input.repo }
"#;

    const ATTEST: &str = r#"package policy
trust_claims := {"executables": 2} if {
    input.measurement in query_reference_value("m")
} else := {"executables": 33}
"#;

    fn data(repo: &str) -> Value {
        json!({"plugin": "resource", "resource-path": [repo, "key", "1"], "query": {}})
    }

    /// Only a boolean `true` from `allow` releases: a missing rule, another value or an
    /// evaluation error deny (with the package's reasons), on the fast path and off it.
    #[test]
    fn resource_allow_must_be_exactly_true() {
        let e = PolicyEngine::new();
        let input = json!({"repo": "a"});
        for (i, rego) in [
            "package policy\nx := 1\n",
            "package policy\nallow := \"yes\"\n",
            "package policy\nallow := 1 / 0\ndeny_reasons contains \"div\"\n",
            "package policy\nallow := false\ndeny_reasons contains \"no\"\n",
        ]
        .into_iter()
        .enumerate()
        {
            let d = e
                .evaluate_resource(&format!("p{i}"), rego, &input, &data("a"))
                .unwrap_or(ResourceDecision {
                    allow: false,
                    reasons: vec!["error".into()],
                });
            assert!(!d.allow, "{rego}");
        }
        let d = e
            .evaluate_resource(
                "p9",
                "package policy\nallow := false\ndeny_reasons contains \"no\"\n",
                &input,
                &data("a"),
            )
            .unwrap();
        assert_eq!(d.reasons, vec!["no".to_string()]);
        let d = e
            .evaluate_resource("p10", RESOURCE, &input, &data("a"))
            .unwrap();
        assert!(d.allow && d.reasons.is_empty());
    }

    #[test]
    fn prepared_data_engines_keep_documents_apart() {
        let e = PolicyEngine::new();
        let input = json!({"repo": "a"});
        // Twice: the second round is served from the prepared per-data engines.
        for _ in 0..2 {
            assert!(
                e.evaluate_resource("r", RESOURCE, &input, &data("a"))
                    .unwrap()
                    .allow
            );
            assert!(
                !e.evaluate_resource("r", RESOURCE, &input, &data("b"))
                    .unwrap()
                    .allow
            );
            let other = json!({"repo": "b"});
            assert!(
                e.evaluate_resource("r", RESOURCE, &other, &data("b"))
                    .unwrap()
                    .allow
            );
        }
        // A changed policy under the same id replaces the prepared engines too.
        let never = "package policy\ndefault allow := false\n";
        assert!(
            !e.evaluate_resource("r", never, &input, &data("a"))
                .unwrap()
                .allow
        );
    }

    #[test]
    fn reference_values_and_input_are_per_evaluation() {
        let e = PolicyEngine::new();
        let mut good = ReferenceValues::new();
        good.insert("m", [json!("abc")]);
        let good = Arc::new(good);
        let empty = Arc::new(ReferenceValues::new());
        let ok = json!({"measurement": "abc"});
        let bad = json!({"measurement": "xyz"});
        for _ in 0..2 {
            let o = e
                .evaluate_attestation("a", ATTEST, &ok, good.clone())
                .unwrap();
            assert_eq!(o.status, EarStatus::Affirming);
            let o = e
                .evaluate_attestation("a", ATTEST, &bad, good.clone())
                .unwrap();
            assert_eq!(o.status, EarStatus::Warning);
            let o = e
                .evaluate_attestation("a", ATTEST, &ok, empty.clone())
                .unwrap();
            assert_eq!(o.status, EarStatus::Warning);
        }
        assert_eq!(e.cached(), 1);
    }
}
