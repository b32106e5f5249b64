//! The in-process store, for tests and development.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::SystemTime;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::changes::ChangeEpochs;
use crate::{check_transaction, Namespace, Store, StoreError, StoreOptions, TxWrite};

struct Entry {
    value: Zeroizing<Vec<u8>>,
    expires_at: Option<SystemTime>,
}

/// A store held in memory: nothing survives the process. Values are kept in clear (nothing is
/// at rest) and zeroized when replaced or dropped. Operations are linearizable (one lock).
pub struct MemoryStore {
    opts: StoreOptions,
    map: Mutex<HashMap<Namespace, BTreeMap<String, Entry>>>,
    epochs: ChangeEpochs,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

/// Constant-time equality of an optional current value with an optional expected value.
pub(crate) fn same_value(current: Option<&[u8]>, expected: Option<&[u8]>) -> bool {
    match (current, expected) {
        (None, None) => true,
        (Some(a), Some(b)) => a.ct_eq(b).into(),
        _ => false,
    }
}

impl MemoryStore {
    /// An empty store with default options (system clock).
    pub fn new() -> Self {
        Self::with_options(StoreOptions::default())
    }

    /// An empty store with these options. `allow_plaintext` is irrelevant: nothing is at rest.
    pub fn with_options(opts: StoreOptions) -> Self {
        MemoryStore {
            opts,
            map: Mutex::new(HashMap::new()),
            epochs: ChangeEpochs::new(true),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Namespace, BTreeMap<String, Entry>>> {
        // A panic while holding the lock cannot leave an entry half-written (each operation is a
        // single map update), so a poisoned lock is still consistent.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    async fn get(
        &self,
        ns: Namespace,
        key: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        self.opts.check_key(ns, key)?;
        let map = self.lock();
        Ok(map
            .get(&ns)
            .and_then(|m| m.get(key))
            .filter(|e| self.opts.live(e.expires_at))
            .map(|e| e.value.clone()))
    }

    async fn put(
        &self,
        ns: Namespace,
        key: &str,
        value: &[u8],
        expires_at: Option<SystemTime>,
    ) -> Result<(), StoreError> {
        self.opts.check_key(ns, key)?;
        self.opts.check_value(ns, value)?;
        let entry = Entry {
            value: Zeroizing::new(value.to_vec()),
            expires_at,
        };
        let mut map = self.lock();
        map.entry(ns).or_default().insert(key.to_owned(), entry);
        self.epochs.bump(ns);
        Ok(())
    }

    async fn delete(&self, ns: Namespace, key: &str) -> Result<bool, StoreError> {
        self.opts.check_key(ns, key)?;
        let mut map = self.lock();
        let removed = map.get_mut(&ns).and_then(|m| m.remove(key));
        self.epochs.bump(ns);
        drop(map);
        Ok(removed.is_some_and(|e| self.opts.live(e.expires_at)))
    }

    async fn list(&self, ns: Namespace, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.opts.check_prefix(ns, prefix)?;
        let map = self.lock();
        let Some(m) = map.get(&ns) else {
            return Ok(Vec::new());
        };
        Ok(m.range::<str, _>((
            std::ops::Bound::Included(prefix),
            std::ops::Bound::Unbounded,
        ))
        .take_while(|(k, _)| k.starts_with(prefix))
        .filter(|(_, e)| self.opts.live(e.expires_at))
        .map(|(k, _)| k.clone())
        .collect())
    }

    async fn compare_and_swap(
        &self,
        ns: Namespace,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        expires_at: Option<SystemTime>,
    ) -> Result<bool, StoreError> {
        self.opts.check_key(ns, key)?;
        if let Some(v) = new {
            self.opts.check_value(ns, v)?;
        }
        let mut map = self.lock();
        let m = map.entry(ns).or_default();
        let current = m
            .get(key)
            .filter(|e| self.opts.live(e.expires_at))
            .map(|e| e.value.as_slice());
        if !same_value(current, expected) {
            return Ok(false);
        }
        match new {
            Some(v) => {
                m.insert(
                    key.to_owned(),
                    Entry {
                        value: Zeroizing::new(v.to_vec()),
                        expires_at,
                    },
                );
            }
            None => {
                m.remove(key);
            }
        }
        self.epochs.bump(ns);
        Ok(true)
    }

    async fn transact(&self, writes: &[TxWrite<'_>]) -> Result<bool, StoreError> {
        check_transaction(&self.opts, writes)?;
        let mut map = self.lock();
        for w in writes {
            let current = map
                .get(&w.ns)
                .and_then(|m| m.get(w.key))
                .filter(|e| self.opts.live(e.expires_at))
                .map(|e| e.value.as_slice());
            if !w.expect.holds(current) {
                return Ok(false);
            }
        }
        for w in writes {
            let m = map.entry(w.ns).or_default();
            match w.new {
                Some(v) => {
                    m.insert(
                        w.key.to_owned(),
                        Entry {
                            value: Zeroizing::new(v.to_vec()),
                            expires_at: w.expires_at,
                        },
                    );
                }
                None => {
                    m.remove(w.key);
                }
            }
            self.epochs.bump(w.ns);
        }
        Ok(true)
    }

    fn change_epoch(&self, ns: Namespace) -> Option<u64> {
        self.epochs.get(ns)
    }

    async fn purge_expired(&self) -> Result<u64, StoreError> {
        let mut map = self.lock();
        let mut n = 0u64;
        for m in map.values_mut() {
            let before = m.len();
            m.retain(|_, e| self.opts.live(e.expires_at));
            n += (before - m.len()) as u64;
        }
        if n > 0 {
            self.epochs.bump_all();
        }
        Ok(n)
    }
}
