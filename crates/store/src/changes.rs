//! Change epochs and read caches: how replicas that cache state never serve it stale for long.
//!
//! Every store keeps one counter (*epoch*) per [`Namespace`]. It moves forward whenever a value of
//! that namespace may have changed: after every local write, and — for PostgreSQL, which several
//! replicas share — whenever another replica's write is announced (`LISTEN`/`NOTIFY`, see
//! [`crate::PostgresStore`]). [`Store::change_epoch`] returns `None` while a store cannot tell
//! (its PostgreSQL listener is disconnected): callers must then read through.
//!
//! [`ReadCache`] builds on that: a value loaded while the epoch was `e` is served only while the
//! epoch is still `e`. The epoch is read *before* loading, so a write that commits during the
//! load moves the epoch past the one recorded and the next read loads again.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::{Namespace, Store};

/// One epoch per namespace, plus whether change announcements are being received.
#[derive(Debug)]
pub(crate) struct ChangeEpochs {
    live: AtomicBool,
    epochs: [AtomicU64; Namespace::ALL.len()],
}

impl ChangeEpochs {
    /// Epochs starting at 0; `live`: whether [`ChangeEpochs::get`] answers from the start.
    pub(crate) fn new(live: bool) -> Self {
        ChangeEpochs {
            live: AtomicBool::new(live),
            epochs: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// The epoch of `ns`, or `None` while changes are not being tracked.
    pub(crate) fn get(&self, ns: Namespace) -> Option<u64> {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        // Every namespace has a slot (`Namespace::ALL`); a missing one reads as "not tracked".
        self.epochs
            .get(ns.index())
            .map(|e| e.load(Ordering::Acquire))
    }

    /// Marks `ns` as (possibly) changed.
    pub(crate) fn bump(&self, ns: Namespace) {
        if let Some(e) = self.epochs.get(ns.index()) {
            e.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Marks every namespace as (possibly) changed.
    pub(crate) fn bump_all(&self) {
        for e in &self.epochs {
            e.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Starts or stops answering [`ChangeEpochs::get`]. Going live bumps every epoch first, so
    /// nothing cached before (while announcements may have been missed) is served again.
    #[cfg(any(feature = "postgres", test))]
    pub(crate) fn set_live(&self, live: bool) {
        if live {
            self.bump_all();
        }
        self.live.store(live, Ordering::Release);
        if !live {
            self.bump_all();
        }
    }
}

/// A cached value derived from one namespace of a store, reloaded whenever the namespace's
/// [`Store::change_epoch`] moves (or on every read while it is `None`).
///
/// ```
/// # async fn f(store: std::sync::Arc<dyn remits_store::Store>) -> Result<(), remits_store::StoreError> {
/// use remits_store::{Namespace, ReadCache};
/// let cache: ReadCache<Option<Vec<u8>>> = ReadCache::new(Namespace::ResourcePolicy);
/// let v = cache
///     .get_or_load(store.as_ref(), || async {
///         Ok::<_, remits_store::StoreError>(
///             store.get(Namespace::ResourcePolicy, "default").await?.map(|v| v.to_vec()),
///         )
///     })
///     .await?;
/// # let _ = v; Ok(()) }
/// ```
pub struct ReadCache<T> {
    ns: Namespace,
    slot: RwLock<Option<(u64, Arc<T>)>>,
}

impl<T> std::fmt::Debug for ReadCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadCache")
            .field("ns", &self.ns)
            .finish_non_exhaustive()
    }
}

impl<T> ReadCache<T> {
    /// An empty cache of a value derived from namespace `ns`.
    pub fn new(ns: Namespace) -> Self {
        ReadCache {
            ns,
            slot: RwLock::new(None),
        }
    }

    /// The cached value if `store` says `ns` has not changed since it was loaded; otherwise
    /// the result of `load` (kept for later when the store tracks changes).
    ///
    /// # Errors
    ///
    /// The error of `load`, when it runs.
    pub async fn get_or_load<E, F, Fut>(&self, store: &dyn Store, load: F) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let epoch = store.change_epoch(self.ns);
        if let Some(e) = epoch {
            if let Ok(slot) = self.slot.read() {
                if let Some((cached, v)) = slot.as_ref() {
                    if *cached == e {
                        return Ok(v.clone());
                    }
                }
            }
        }
        let v = Arc::new(load().await?);
        if let Some(e) = epoch {
            if let Ok(mut slot) = self.slot.write() {
                // Keep a value loaded at a later epoch by a concurrent caller.
                if !matches!(slot.as_ref(), Some((cached, _)) if *cached > e) {
                    *slot = Some((e, v.clone()));
                }
            }
        }
        Ok(v)
    }

    /// Drops the cached value.
    pub fn invalidate(&self) {
        if let Ok(mut slot) = self.slot.write() {
            *slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryStore, StoreError};

    #[tokio::test]
    async fn reloads_after_a_write_and_reads_through_when_not_live() {
        let store = MemoryStore::new();
        let cache: ReadCache<Option<Vec<u8>>> = ReadCache::new(Namespace::Config);
        let loads = AtomicU64::new(0);
        let load = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok::<_, StoreError>(store.get(Namespace::Config, "k").await?.map(|v| v.to_vec()))
        };
        assert_eq!(*cache.get_or_load(&store, load).await.unwrap(), None);
        assert_eq!(*cache.get_or_load(&store, load).await.unwrap(), None);
        assert_eq!(
            loads.load(Ordering::SeqCst),
            1,
            "second read served from the cache"
        );
        store.put(Namespace::Config, "k", b"v", None).await.unwrap();
        assert_eq!(
            cache.get_or_load(&store, load).await.unwrap().as_deref(),
            Some(&b"v"[..])
        );
        assert_eq!(loads.load(Ordering::SeqCst), 2);
        // A write to another namespace does not invalidate.
        store
            .put(Namespace::Session, "s", b"x", None)
            .await
            .unwrap();
        cache.get_or_load(&store, load).await.unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn epochs_hide_while_not_live_and_move_on_reconnect() {
        let e = ChangeEpochs::new(false);
        assert_eq!(e.get(Namespace::Config), None);
        e.set_live(true);
        let a = e.get(Namespace::Config).unwrap();
        e.set_live(false);
        assert_eq!(e.get(Namespace::Config), None);
        e.set_live(true);
        assert!(e.get(Namespace::Config).unwrap() > a);
        e.bump(Namespace::Config);
        assert!(e.get(Namespace::Config).unwrap() > a + 1);
    }
}
