//! The enclave configuration (YAML, like Anjuna's `enclave.yaml`) and its PCR15 events.
//!
//! Keys: `entrypoint` (list of strings), `env` (map of name to scalar), `workdir`, `user`,
//! `broker` (`url` plus optional `settings`, any mapping); every other top-level key is kept and
//! measured canonically in the `extra` event. Each part is encoded as canonical JSON (RFC 8785,
//! JCS) and measured as one event (see [`pcr15_digest`]); an absent optional key is JSON `null`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::events::{types, Digest32, Event};
use super::Error;

/// Upper bound on the size of a configuration file.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;

/// The broker section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broker {
    /// Broker (KBS) URL.
    pub url: String,
    /// Optional settings, as canonical JSON.
    pub settings: Map<String, Value>,
}

/// A parsed, validated enclave configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnclaveConfig {
    /// Command and arguments; `None` = the image's own entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// Environment variables (values converted to their string form).
    pub env: BTreeMap<String, String>,
    /// Working directory.
    pub workdir: Option<String>,
    /// User (name or `uid[:gid]`).
    pub user: Option<String>,
    /// Key broker.
    pub broker: Option<Broker>,
    /// Every other top-level key, preserved.
    pub extra: Map<String, Value>,
}

/// The PCR15 events of the enclave configuration, in extend order.
pub const CONFIG_EVENTS: [&str; 6] = [
    "remits.enclave.entrypoint",
    "remits.enclave.env",
    "remits.enclave.workdir",
    "remits.enclave.user",
    "remits.enclave.broker",
    "remits.enclave.extra",
];

/// Digest of a named PCR15 value: `SHA-256("remits/pcr15/v1/" || name || 0x00 || bytes)`.
pub fn pcr15_digest(name: &str, bytes: &[u8]) -> Digest32 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"remits/pcr15/v1/");
    h.update(name.as_bytes());
    h.update([0u8]);
    h.update(bytes);
    h.finalize().into()
}

/// A YAML error with its position and reason only (never the file's text: it may be a secret
/// given by mistake).
fn yaml_error(e: &serde_yaml::Error) -> String {
    let full = e.to_string();
    let msg = full.split(" at line ").next().unwrap_or(&full);
    let reason = remits_evidence::parse_error::reason(msg);
    match e.location() {
        Some(l) => format!("YAML: line {}, column {}: {reason}", l.line(), l.column()),
        None => format!("YAML: {reason}"),
    }
}

fn scalar_string(key: &str, v: &serde_yaml::Value) -> Result<String, Error> {
    match v {
        serde_yaml::Value::String(s) => Ok(s.clone()),
        serde_yaml::Value::Number(n) => Ok(n.to_string()),
        serde_yaml::Value::Bool(b) => Ok(b.to_string()),
        _ => Err(Error::Config(format!("{key}: expected a string"))),
    }
}

fn opt_string(map: &serde_yaml::Mapping, key: &str) -> Result<Option<String>, Error> {
    match map.get(key) {
        None | Some(serde_yaml::Value::Null) => Ok(None),
        Some(serde_yaml::Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => scalar_string(key, v).map(Some),
    }
}

fn to_json(path: &str, v: &serde_yaml::Value) -> Result<Value, Error> {
    Ok(match v {
        serde_yaml::Value::Null => Value::Null,
        serde_yaml::Value::Bool(b) => Value::Bool(*b),
        serde_yaml::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| Error::Config(format!("{path}: non-finite number")))?
            }
        }
        serde_yaml::Value::String(s) => Value::String(s.clone()),
        serde_yaml::Value::Sequence(seq) => Value::Array(
            seq.iter()
                .map(|x| to_json(path, x))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        serde_yaml::Value::Mapping(m) => Value::Object(mapping_to_json(path, m)?),
        serde_yaml::Value::Tagged(_) => {
            return Err(Error::Config(format!(
                "{path}: YAML tags are not supported"
            )))
        }
    })
}

fn mapping_to_json(path: &str, m: &serde_yaml::Mapping) -> Result<Map<String, Value>, Error> {
    let mut out = Map::new();
    for (k, v) in m {
        let key = k
            .as_str()
            .ok_or_else(|| Error::Config(format!("{path}: mapping keys must be strings")))?;
        out.insert(key.to_owned(), to_json(&format!("{path}.{key}"), v)?);
    }
    Ok(out)
}

fn jcs(v: &Value) -> Result<Vec<u8>, Error> {
    serde_json_canonicalizer::to_vec(v).map_err(|e| Error::Config(format!("canonical JSON: {e}")))
}

/// Deepest `[`/`{` nesting accepted in a configuration.
const MAX_FLOW_DEPTH: usize = 32;

/// Refuses flow collections nested deeper than [`MAX_FLOW_DEPTH`] before the YAML scanner sees
/// them: its simple-key bookkeeping is linear in the depth per token, so 100,000 `[` (200 KiB)
/// took minutes (found by the `enclave_yaml` fuzz entry). Quoted strings and comments are
/// skipped; a bracket inside a plain scalar counts, which only errs on the side of refusing.
fn check_flow_depth(text: &[u8]) -> Result<(), Error> {
    let (mut depth, mut quote, mut comment, mut prev) = (0usize, None::<u8>, false, b'\n');
    for &c in text {
        match (quote, c) {
            _ if comment => comment = c != b'\n',
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') if b" \t\r\n[{,:-".contains(&prev) => quote = Some(c),
            (None, b'#') if prev.is_ascii_whitespace() => comment = true,
            (None, b'[' | b'{') => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Err(Error::Config(format!(
                        "collections nested deeper than {MAX_FLOW_DEPTH} levels"
                    )));
                }
            }
            (None, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
        prev = c;
    }
    Ok(())
}

impl EnclaveConfig {
    /// Parses and validates a YAML configuration (at most [`MAX_CONFIG_BYTES`]).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the key that is missing, unknown or of the wrong type, or text that
    /// is not YAML or too large.
    pub fn from_yaml(text: &[u8]) -> Result<Self, Error> {
        if text.len() > MAX_CONFIG_BYTES {
            return Err(Error::Config(format!(
                "file is {} bytes, limit is {MAX_CONFIG_BYTES}",
                text.len()
            )));
        }
        check_flow_depth(text)?;
        let doc: serde_yaml::Value =
            serde_yaml::from_slice(text).map_err(|e| Error::Config(yaml_error(&e)))?;
        let map = match doc {
            serde_yaml::Value::Mapping(m) => m,
            serde_yaml::Value::Null => serde_yaml::Mapping::new(),
            _ => return Err(Error::Config("top level must be a mapping".into())),
        };
        let entrypoint = match map.get("entrypoint") {
            None | Some(serde_yaml::Value::Null) => None,
            Some(serde_yaml::Value::Sequence(seq)) => {
                if seq.is_empty() {
                    return Err(Error::Config("entrypoint: must not be empty".into()));
                }
                Some(
                    seq.iter()
                        .map(|x| scalar_string("entrypoint[]", x))
                        .collect::<Result<Vec<_>, _>>()?,
                )
            }
            Some(_) => {
                return Err(Error::Config(
                    "entrypoint: expected a list of strings".into(),
                ))
            }
        };
        let mut env = BTreeMap::new();
        match map.get("env") {
            None | Some(serde_yaml::Value::Null) => {}
            Some(serde_yaml::Value::Mapping(m)) => {
                for (k, v) in m {
                    let k = k
                        .as_str()
                        .ok_or_else(|| Error::Config("env: names must be strings".into()))?;
                    if k.is_empty() || k.contains('=') || k.contains('\0') {
                        return Err(Error::Config(format!("env: invalid variable name {k:?}")));
                    }
                    let v = scalar_string(&format!("env.{k}"), v)?;
                    if v.contains('\0') {
                        return Err(Error::Config(format!("env.{k}: contains NUL")));
                    }
                    env.insert(k.to_owned(), v);
                }
            }
            Some(_) => return Err(Error::Config("env: expected a mapping".into())),
        }
        let workdir = opt_string(&map, "workdir")?;
        let user = opt_string(&map, "user")?;
        let broker = match map.get("broker") {
            None | Some(serde_yaml::Value::Null) => None,
            Some(serde_yaml::Value::Mapping(m)) => {
                let url = opt_string(m, "url")?
                    .ok_or_else(|| Error::Config("broker.url: missing".into()))?;
                let settings = match m.get("settings") {
                    None | Some(serde_yaml::Value::Null) => Map::new(),
                    Some(serde_yaml::Value::Mapping(s)) => mapping_to_json("broker.settings", s)?,
                    Some(_) => {
                        return Err(Error::Config("broker.settings: expected a mapping".into()))
                    }
                };
                for (k, _) in m {
                    if !matches!(k.as_str(), Some("url") | Some("settings")) {
                        return Err(Error::Config(format!(
                            "broker: unknown key {k:?} (put options under broker.settings)"
                        )));
                    }
                }
                Some(Broker { url, settings })
            }
            Some(_) => return Err(Error::Config("broker: expected a mapping".into())),
        };
        let mut extra = Map::new();
        for (k, v) in &map {
            let key = k
                .as_str()
                .ok_or_else(|| Error::Config("top-level keys must be strings".into()))?;
            if !matches!(key, "entrypoint" | "env" | "workdir" | "user" | "broker") {
                extra.insert(key.to_owned(), to_json(key, v)?);
            }
        }
        Ok(EnclaveConfig {
            entrypoint,
            env,
            workdir,
            user,
            broker,
            extra,
        })
    }

    /// The canonical JSON value of each part, in [`CONFIG_EVENTS`] order.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when a part cannot be canonicalized.
    pub fn canonical_parts(&self) -> Result<Vec<(&'static str, Vec<u8>)>, Error> {
        let entry = match &self.entrypoint {
            Some(v) => Value::from(v.clone()),
            None => Value::Null,
        };
        let env: Map<String, Value> = self
            .env
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let opt = |o: &Option<String>| o.clone().map(Value::String).unwrap_or(Value::Null);
        let broker = match &self.broker {
            Some(b) => {
                let mut m = Map::new();
                m.insert("settings".into(), Value::Object(b.settings.clone()));
                m.insert("url".into(), Value::String(b.url.clone()));
                Value::Object(m)
            }
            None => Value::Null,
        };
        let values = [
            entry,
            Value::Object(env),
            opt(&self.workdir),
            opt(&self.user),
            broker,
            Value::Object(self.extra.clone()),
        ];
        CONFIG_EVENTS
            .iter()
            .zip(values.iter())
            .map(|(n, v)| Ok((*n, jcs(v)?)))
            .collect()
    }

    /// The PCR15 events of this configuration.
    ///
    /// # Errors
    ///
    /// As `EnclaveConfig::canonical_parts`.
    pub fn events(&self) -> Result<Vec<Event>, Error> {
        Ok(self
            .canonical_parts()?
            .into_iter()
            .map(|(name, bytes)| Event::new(types::REMITS_EVENT, name, pcr15_digest(name, &bytes)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "entrypoint: [/app/server, --port, 8080]\nenv:\n  B: two\n  A: 1\nworkdir: /app\nuser: app\nbroker:\n  url: https://kbs.example:8080\n  settings: {timeout: 5}\nlog_level: debug\n";

    #[test]
    fn parses_and_canonicalises() {
        let c = EnclaveConfig::from_yaml(YAML.as_bytes()).unwrap();
        assert_eq!(c.entrypoint.as_deref().unwrap()[2], "8080");
        assert_eq!(c.env.get("A").unwrap(), "1");
        let parts = c.canonical_parts().unwrap();
        assert_eq!(parts[1].1, br#"{"A":"1","B":"two"}"#);
        assert_eq!(
            parts[4].1,
            br#"{"settings":{"timeout":5},"url":"https://kbs.example:8080"}"#
        );
        assert_eq!(parts[5].1, br#"{"log_level":"debug"}"#);
        // Key order in the YAML does not matter.
        let c2 = EnclaveConfig::from_yaml(
            "log_level: debug\nbroker: {settings: {timeout: 5}, url: 'https://kbs.example:8080'}\nuser: app\nworkdir: /app\nenv: {A: '1', B: two}\nentrypoint: [/app/server, --port, '8080']\n".as_bytes(),
        )
        .unwrap();
        assert_eq!(c.events().unwrap(), c2.events().unwrap());
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "- a\n- b\n",
            "entrypoint: /bin/sh\n",
            "entrypoint: []\n",
            "env: [a]\n",
            "env: {'A=B': x}\n",
            "broker: {settings: {}}\n",
            "broker: {url: x, extra: 1}\n",
            "env: {A: x, A: y}\n",
            "{1: x}\n",
        ] {
            assert!(EnclaveConfig::from_yaml(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
