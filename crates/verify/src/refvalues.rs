//! The reference-value store: named lists of accepted values with optional expiry, persisted in
//! a [`remits_store::Store`] (namespace `ReferenceValue`, one key per name) and cached in memory.
//!
//! The cache is a [`ReadCache`]: it is reloaded whenever the store's change epoch of the
//! namespace moves (any replica's write, announced by PostgreSQL within milliseconds) and read
//! through while the store cannot tell. [`ReferenceValueStore::refresh`] brings it up to date;
//! the attestation service calls it at the start of every appraisal.
//!
//! Accepted registration forms:
//! * trustee's sample form `{"snp_launch_measurement": ["hex", ...], "snp_bootloader": [10]}` or
//!   an RVPS message `{"version","type":"sample","payload":"<base64>"}` (no expiry);
//! * remits' form `{"expires_at": "<RFC 3339>" | null, "values": {<sample form>}}`.
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use remits_policy::ReferenceValues;
use remits_store::{Namespace, ReadCache, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

/// One stored value with its expiry (unix seconds; `None` = never).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The value (string, number, object, ...).
    pub value: Value,
    /// Expiry, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

/// Reference values: store-backed, cached, expiry-aware.
pub struct ReferenceValueStore {
    store: Arc<dyn Store>,
    cache: ReadCache<Names>,
    current: RwLock<Arc<Names>>,
}

type Names = BTreeMap<String, Vec<Entry>>;

/// How many times a registration retries its compare-and-swap when other replicas register
/// values under the same name at the same moment.
const REGISTER_ATTEMPTS: usize = 16;

impl std::fmt::Debug for ReferenceValueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceValueStore")
            .finish_non_exhaustive()
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Parse RFC 3339 into a `SystemTime`.
///
/// # Errors
///
/// A message when `s` is not an RFC 3339 time at or after the Unix epoch.
pub fn parse_rfc3339(s: &str) -> Result<SystemTime, String> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("{s:?} is not RFC 3339: {e}"))?;
    let ts = t.unix_timestamp();
    u64::try_from(ts)
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
        .map_err(|_| format!("{s:?} is before 1970"))
}

/// Parse any accepted registration form into values + optional expiry.
///
/// # Errors
///
/// [`Error::ReferenceValues`] when the JSON is none of the accepted forms or an expiry is not RFC
/// 3339.
pub fn parse_registration(json: &[u8]) -> Result<(ReferenceValues, Option<SystemTime>), Error> {
    let v: Value = serde_json::from_slice(json).map_err(|e| {
        Error::ReferenceValues(format!(
            "not JSON: {}",
            remits_evidence::parse_error::json(&e)
        ))
    })?;
    if let (Some(values), Some(obj)) = (v.get("values"), v.as_object()) {
        for k in obj.keys() {
            if k != "values" && k != "expires_at" {
                return Err(Error::ReferenceValues(format!("unknown field {k:?}")));
            }
        }
        let exp = match obj.get("expires_at") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(parse_rfc3339(s).map_err(Error::ReferenceValues)?),
            Some(_) => return Err(Error::ReferenceValues("expires_at: not a string".into())),
        };
        let rv = ReferenceValues::from_value(values)
            .map_err(|e| Error::ReferenceValues(e.to_string()))?;
        return Ok((rv, exp));
    }
    let rv = ReferenceValues::from_value(&v).map_err(|e| Error::ReferenceValues(e.to_string()))?;
    Ok((rv, None))
}

impl ReferenceValueStore {
    /// Open over a store and load what it holds.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store fails, [`Error::ReferenceValues`] when a stored entry does
    /// not parse.
    pub async fn open(store: Arc<dyn Store>) -> Result<Self, Error> {
        let s = ReferenceValueStore {
            store,
            cache: ReadCache::new(Namespace::ReferenceValue),
            current: RwLock::new(Arc::new(BTreeMap::new())),
        };
        s.refresh().await?;
        Ok(s)
    }

    async fn load(store: &dyn Store) -> Result<Names, Error> {
        let mut map = BTreeMap::new();
        for name in store.list(Namespace::ReferenceValue, "").await? {
            if let Some(bytes) = store.get(Namespace::ReferenceValue, &name).await? {
                let entries: Vec<Entry> = serde_json::from_slice(&bytes).map_err(|e| {
                    Error::ReferenceValues(format!("stored value {name:?} is corrupt: {e}"))
                })?;
                map.insert(name, entries);
            }
        }
        Ok(map)
    }

    /// Brings the in-memory copy up to date with the store: no I/O when the store reports no
    /// change since the last load, a full reload otherwise (and on every call while the store
    /// does not track changes). Later [`ReferenceValueStore::snapshot`]s see the result.
    ///
    /// # Errors
    ///
    /// As [`ReferenceValueStore::open`].
    pub async fn refresh(&self) -> Result<(), Error> {
        let store = self.store.as_ref();
        let map = self.cache.get_or_load(store, || Self::load(store)).await?;
        // Unchanged (the common case): no write lock on the hot path.
        if self.current.read().is_ok_and(|c| Arc::ptr_eq(&c, &map)) {
            return Ok(());
        }
        if let Ok(mut c) = self.current.write() {
            *c = map;
        }
        Ok(())
    }

    /// Re-read every name from the store, whatever the change epochs say.
    ///
    /// # Errors
    ///
    /// As [`ReferenceValueStore::open`].
    pub async fn reload(&self) -> Result<(), Error> {
        self.cache.invalidate();
        self.refresh().await
    }

    /// Add values (merged with what is there; a re-registered value gets the new expiry). Each
    /// name is updated with compare-and-swap, so registrations through several replicas at once
    /// are all kept.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store fails, [`Error::Internal`] when a value cannot be encoded,
    /// [`Error::ReferenceValues`] when a stored entry does not parse.
    pub async fn register(
        &self,
        values: &ReferenceValues,
        expires_at: Option<SystemTime>,
    ) -> Result<(), Error> {
        let exp = expires_at.map(secs);
        for (name, vals) in &values.0 {
            let mut done = false;
            for _ in 0..REGISTER_ATTEMPTS {
                let old = self.store.get(Namespace::ReferenceValue, name).await?;
                let mut entries: Vec<Entry> = match &old {
                    Some(b) => serde_json::from_slice(b).unwrap_or_default(),
                    None => Vec::new(),
                };
                for v in vals {
                    entries.retain(|e| &e.value != v);
                    entries.push(Entry {
                        value: v.clone(),
                        expires_at: exp,
                    });
                }
                let key_exp = if entries.iter().any(|e| e.expires_at.is_none()) {
                    None
                } else {
                    entries
                        .iter()
                        .filter_map(|e| e.expires_at)
                        .max()
                        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
                };
                let bytes =
                    serde_json::to_vec(&entries).map_err(|e| Error::Internal(e.to_string()))?;
                if self
                    .store
                    .compare_and_swap(
                        Namespace::ReferenceValue,
                        name,
                        old.as_deref().map(Vec::as_slice),
                        Some(&bytes),
                        key_exp,
                    )
                    .await?
                {
                    done = true;
                    break;
                }
            }
            if !done {
                return Err(Error::Internal(format!(
                    "reference value {name:?}: too many concurrent registrations, try again"
                )));
            }
        }
        self.refresh().await
    }

    /// Remove a name.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store fails, [`Error::ReferenceValues`] when a stored entry does
    /// not parse.
    pub async fn remove(&self, name: &str) -> Result<bool, Error> {
        let r = self.store.delete(Namespace::ReferenceValue, name).await?;
        self.refresh().await?;
        Ok(r)
    }

    /// The unexpired values at `now`, as the policy sees them, from the last
    /// [`ReferenceValueStore::refresh`].
    pub fn snapshot(&self, now: SystemTime) -> ReferenceValues {
        let n = secs(now);
        let mut out = ReferenceValues::new();
        let current = self.current.read().map(|c| c.clone()).unwrap_or_default();
        {
            for (name, entries) in current.iter() {
                let live: Vec<Value> = entries
                    .iter()
                    .filter(|e| e.expires_at.is_none_or(|x| x > n))
                    .map(|e| e.value.clone())
                    .collect();
                if !live.is_empty() {
                    out.0.insert(name.clone(), live);
                }
            }
        }
        out
    }
}

/// Reference values from a `remits-measure` manifest (`docs/measurements.md`):
/// `enclave_id` ← the ENCLAVE ID, `tpm_pcr11` and `snp_pcr11` ← PCR11, and, for a signed
/// manifest, `tpm_trusted_signer` ← PCR16 (which measures the signer's key).
///
/// A signed manifest is accepted only when its signature verifies under one of `signers` (the
/// operator's configured keys); an unsigned one only when no signer is configured. Either way
/// the manifest must be internally consistent (every PCR is the replay of its events, the
/// ENCLAVE ID matches the PCRs).
///
/// # Errors
///
/// [`Error::ReferenceValues`] when the manifest does not parse or is inconsistent, is signed but no
/// key in `keys` verifies it, or is unsigned while `keys` is not empty.
pub fn manifest_reference_values(
    bytes: &[u8],
    signers: &[remits_manifest::signing::PublicKey],
) -> Result<ReferenceValues, Error> {
    use remits_manifest::manifest::{verify_signed, Manifest, PCR_SIGNER};
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        Error::ReferenceValues(format!(
            "manifest: not JSON: {}",
            remits_evidence::parse_error::json(&e)
        ))
    })?;
    let signed = !matches!(v.get("signature"), None | Some(Value::Null));
    let m = match (signed, signers.is_empty()) {
        (true, true) => {
            return Err(Error::ReferenceValues(
                "manifest is signed but no manifest signer key is configured".into(),
            ))
        }
        (false, false) => {
            return Err(Error::ReferenceValues(
                "manifest is unsigned but manifest signer keys are configured".into(),
            ))
        }
        (false, true) => Manifest::from_json(bytes)
            .map_err(|e| Error::ReferenceValues(format!("manifest: {e}")))?,
        (true, false) => {
            let mut last = String::new();
            let mut ok = None;
            for k in signers {
                match verify_signed(bytes, k) {
                    Ok(m) => {
                        ok = Some(m);
                        break;
                    }
                    Err(e) => last = e.to_string(),
                }
            }
            ok.ok_or_else(|| {
                Error::ReferenceValues(format!(
                    "manifest signature does not verify under any configured signer key ({last})"
                ))
            })?
        }
    };
    let mut rv = ReferenceValues::new();
    rv.insert("enclave_id", [Value::String(hex::encode(m.enclave_id.0))]);
    if let Some(p) = m.pcrs.get(&11) {
        rv.insert("tpm_pcr11", [Value::String(hex::encode(p.0))]);
        rv.insert("snp_pcr11", [Value::String(hex::encode(p.0))]);
    }
    if signed {
        if let Some(p) = m.pcrs.get(&PCR_SIGNER) {
            rv.insert("tpm_trusted_signer", [Value::String(hex::encode(p.0))]);
        }
    }
    Ok(rv)
}
