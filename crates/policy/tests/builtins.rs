//! The `rego-builtins` feature: an operator's policy calling `time.*`, `regex.*` or `semver.*`
//! works with it, and without it never grants (it fails, it does not pass).

use remits_policy::PolicyEngine;
use serde_json::json;

const POLICIES: [(&str, &str); 3] = [
    (
        "uses-time",
        "package policy\ndefault allow := false\nallow if time.now_ns() > 0\n",
    ),
    (
        "uses-regex",
        "package policy\ndefault allow := false\nallow if regex.match(`^a+$`, \"aaa\")\n",
    ),
    (
        "uses-semver",
        "package policy\ndefault allow := false\nallow if semver.compare(\"1.2.3\", \"1.2.0\") == 1\n",
    ),
];

#[test]
fn extra_builtins_work_with_the_feature_and_never_grant_without_it() {
    let engine = PolicyEngine::new();
    for (id, rego) in POLICIES {
        let allowed = engine
            .evaluate_resource(id, rego, &json!({}), &json!({}))
            .map(|d| d.allow);
        if cfg!(feature = "rego-builtins") {
            assert!(matches!(allowed, Ok(true)), "{id}: {allowed:?}");
        } else {
            assert!(
                !matches!(allowed, Ok(true)),
                "{id}: granted without the builtin"
            );
        }
    }
}
