//! The conformance suite every backend must pass.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use remits_evidence::clock::Clock;
use remits_store::{Namespace, Store, StoreError};

/// A clock tests can move.
pub(crate) struct TestClock(Mutex<SystemTime>);

impl TestClock {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(TestClock(Mutex::new(
            UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        )))
    }
    pub(crate) fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }
}

impl Clock for TestClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

fn v(x: Option<zeroize::Zeroizing<Vec<u8>>>) -> Option<Vec<u8>> {
    x.map(|z| z.to_vec())
}

pub(crate) async fn basic(s: &dyn Store) {
    let ns = Namespace::Config;
    assert_eq!(v(s.get(ns, "k1").await.unwrap()), None);
    s.put(ns, "k1", b"one", None).await.unwrap();
    assert_eq!(v(s.get(ns, "k1").await.unwrap()), Some(b"one".to_vec()));
    s.put(ns, "k1", b"uno", None).await.unwrap();
    assert_eq!(v(s.get(ns, "k1").await.unwrap()), Some(b"uno".to_vec()));
    // Empty values are values, not absence.
    s.put(ns, "empty", b"", None).await.unwrap();
    assert_eq!(v(s.get(ns, "empty").await.unwrap()), Some(Vec::new()));
    // Namespaces are separate.
    assert_eq!(v(s.get(Namespace::Session, "k1").await.unwrap()), None);
    s.put(Namespace::Session, "k1", b"sess", None)
        .await
        .unwrap();
    assert_eq!(v(s.get(ns, "k1").await.unwrap()), Some(b"uno".to_vec()));
    assert!(s.delete(ns, "k1").await.unwrap());
    assert!(!s.delete(ns, "k1").await.unwrap());
    assert_eq!(v(s.get(ns, "k1").await.unwrap()), None);
    assert_eq!(
        v(s.get(Namespace::Session, "k1").await.unwrap()),
        Some(b"sess".to_vec())
    );
    // Binary values survive unchanged.
    let bin: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    s.put(Namespace::ReferenceValue, "bin", &bin, None)
        .await
        .unwrap();
    assert_eq!(
        v(s.get(Namespace::ReferenceValue, "bin").await.unwrap()),
        Some(bin)
    );
    // Secrets round-trip (the persistent stores are opened with a KEK here).
    s.put(Namespace::Resource, "repo/key/tag", b"secret", None)
        .await
        .unwrap();
    assert_eq!(
        v(s.get(Namespace::Resource, "repo/key/tag").await.unwrap()),
        Some(b"secret".to_vec())
    );
}

pub(crate) async fn list(s: &dyn Store) {
    let ns = Namespace::AttestationPolicy;
    for k in ["a/2", "a/1", "b/1", "a", "a/10", "ä/x", "A/1"] {
        s.put(ns, k, k.as_bytes(), None).await.unwrap();
    }
    s.put(Namespace::ResourcePolicy, "a/3", b"other ns", None)
        .await
        .unwrap();
    assert_eq!(s.list(ns, "a/").await.unwrap(), ["a/1", "a/10", "a/2"]);
    assert_eq!(s.list(ns, "a").await.unwrap(), ["a", "a/1", "a/10", "a/2"]);
    // Byte order: "A" < "a" < "b" < "ä".
    assert_eq!(
        s.list(ns, "").await.unwrap(),
        ["A/1", "a", "a/1", "a/10", "a/2", "b/1", "ä/x"]
    );
    assert!(s.list(ns, "zzz").await.unwrap().is_empty());
    // LIKE metacharacters are literal.
    s.put(ns, "p%q", b"", None).await.unwrap();
    s.put(ns, "p_q", b"", None).await.unwrap();
    s.put(ns, "pxq", b"", None).await.unwrap();
    assert_eq!(s.list(ns, "p%").await.unwrap(), ["p%q"]);
    assert_eq!(s.list(ns, "p_").await.unwrap(), ["p_q"]);
}

pub(crate) async fn validation(s: &dyn Store) {
    let ns = Namespace::Config;
    let invalid = |r: Result<(), StoreError>| matches!(r, Err(StoreError::InvalidKey { .. }));
    assert!(invalid(s.put(ns, "", b"x", None).await));
    assert!(invalid(s.put(ns, "a\0b", b"x", None).await));
    assert!(invalid(s.put(ns, &"k".repeat(1025), b"x", None).await));
    s.put(ns, &"k".repeat(1024), b"x", None).await.unwrap();
    assert!(matches!(
        s.get(ns, "").await,
        Err(StoreError::InvalidKey { .. })
    ));
    assert!(matches!(
        s.list(ns, "\0").await,
        Err(StoreError::InvalidKey { .. })
    ));
    assert!(matches!(
        s.compare_and_swap(ns, "a\0", None, Some(b"x"), None).await,
        Err(StoreError::InvalidKey { .. })
    ));
    let big = vec![0u8; 16 * 1024 * 1024 + 1];
    assert!(matches!(
        s.put(ns, "big", &big, None).await,
        Err(StoreError::ValueTooLarge { len, max, .. }) if len == big.len() && max == 16 * 1024 * 1024
    ));
    assert!(matches!(
        s.compare_and_swap(ns, "big", None, Some(&big), None).await,
        Err(StoreError::ValueTooLarge { .. })
    ));
    assert_eq!(v(s.get(ns, "big").await.unwrap()), None);
}

pub(crate) async fn expiry(s: &dyn Store, clock: &TestClock) {
    let ns = Namespace::Session;
    let now = clock.now();
    s.put(ns, "s1", b"v1", Some(now + Duration::from_secs(10)))
        .await
        .unwrap();
    s.put(ns, "s2", b"v2", Some(now + Duration::from_secs(20)))
        .await
        .unwrap();
    s.put(ns, "s3", b"v3", None).await.unwrap();
    // Already expired when written: invisible.
    s.put(ns, "s4", b"v4", Some(now - Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(v(s.get(ns, "s4").await.unwrap()), None);
    assert_eq!(v(s.get(ns, "s1").await.unwrap()), Some(b"v1".to_vec()));
    assert_eq!(s.list(ns, "s").await.unwrap(), ["s1", "s2", "s3"]);

    clock.advance(Duration::from_secs(10)); // expires_at == now: expired
    assert_eq!(v(s.get(ns, "s1").await.unwrap()), None);
    assert_eq!(v(s.get(ns, "s2").await.unwrap()), Some(b"v2".to_vec()));
    assert_eq!(s.list(ns, "s").await.unwrap(), ["s2", "s3"]);
    // CAS sees an expired entry as absent.
    assert!(!s
        .compare_and_swap(ns, "s1", Some(b"v1"), Some(b"x"), None)
        .await
        .unwrap());
    assert!(
        !s.delete(ns, "s4").await.unwrap(),
        "deleting an expired entry reports absent"
    );

    assert_eq!(s.purge_expired().await.unwrap(), 1, "s1 (s4 was deleted)");
    assert_eq!(s.purge_expired().await.unwrap(), 0);
    assert!(s
        .compare_and_swap(ns, "s1", None, Some(b"new"), None)
        .await
        .unwrap());
    assert_eq!(v(s.get(ns, "s1").await.unwrap()), Some(b"new".to_vec()));

    // CAS over an expired (not yet purged) entry, and CAS setting an expiry.
    let t = clock.now();
    s.put(ns, "s5", b"old", Some(t + Duration::from_secs(5)))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(6));
    assert!(s
        .compare_and_swap(
            ns,
            "s5",
            None,
            Some(b"fresh"),
            Some(clock.now() + Duration::from_secs(5))
        )
        .await
        .unwrap());
    assert_eq!(v(s.get(ns, "s5").await.unwrap()), Some(b"fresh".to_vec()));
    clock.advance(Duration::from_secs(5));
    assert_eq!(v(s.get(ns, "s5").await.unwrap()), None);
    assert_eq!(s.purge_expired().await.unwrap(), 2, "s2 and s5");
    assert_eq!(s.list(ns, "s").await.unwrap(), ["s1", "s3"]);
}

pub(crate) async fn cas(s: &dyn Store) {
    let ns = Namespace::Config;
    // Absent -> set.
    assert!(s
        .compare_and_swap(ns, "c", None, Some(b"1"), None)
        .await
        .unwrap());
    // Absent expected but present: no change.
    assert!(!s
        .compare_and_swap(ns, "c", None, Some(b"2"), None)
        .await
        .unwrap());
    assert_eq!(v(s.get(ns, "c").await.unwrap()), Some(b"1".to_vec()));
    // Wrong expected value (also: a prefix of it, a longer one): no change.
    for wrong in [&b"2"[..], b"", b"11"] {
        assert!(!s
            .compare_and_swap(ns, "c", Some(wrong), Some(b"3"), None)
            .await
            .unwrap());
    }
    assert_eq!(v(s.get(ns, "c").await.unwrap()), Some(b"1".to_vec()));
    // Right expected value: swap.
    assert!(s
        .compare_and_swap(ns, "c", Some(b"1"), Some(b"2"), None)
        .await
        .unwrap());
    assert_eq!(v(s.get(ns, "c").await.unwrap()), Some(b"2".to_vec()));
    // Expected present but absent: no change.
    assert!(!s
        .compare_and_swap(ns, "nope", Some(b"2"), Some(b"3"), None)
        .await
        .unwrap());
    assert_eq!(v(s.get(ns, "nope").await.unwrap()), None);
    // Swap to None deletes.
    assert!(s
        .compare_and_swap(ns, "c", Some(b"2"), None, None)
        .await
        .unwrap());
    assert_eq!(v(s.get(ns, "c").await.unwrap()), None);
    // None -> None on an absent key succeeds and changes nothing.
    assert!(s.compare_and_swap(ns, "c", None, None, None).await.unwrap());
    assert_eq!(v(s.get(ns, "c").await.unwrap()), None);
    // Secrets work with CAS too (compared in plaintext, stored sealed).
    assert!(s
        .compare_and_swap(Namespace::Resource, "r/k/t", None, Some(b"s1"), None)
        .await
        .unwrap());
    assert!(!s
        .compare_and_swap(Namespace::Resource, "r/k/t", Some(b"s0"), Some(b"s2"), None)
        .await
        .unwrap());
    assert!(s
        .compare_and_swap(Namespace::Resource, "r/k/t", Some(b"s1"), Some(b"s2"), None)
        .await
        .unwrap());
    assert_eq!(
        v(s.get(Namespace::Resource, "r/k/t").await.unwrap()),
        Some(b"s2".to_vec())
    );
}

/// Many tasks race on one key (or spread over several handles of one database): exactly one
/// creates it; then read-modify-CAS increments lose no update.
pub(crate) async fn concurrent_cas(stores: &[Arc<dyn Store>]) {
    let ns = Namespace::Session;
    let mut tasks = Vec::new();
    for i in 0..64u32 {
        let s = stores[i as usize % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            s.compare_and_swap(ns, "race", None, Some(&i.to_be_bytes()), None)
                .await
                .unwrap()
        }));
    }
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap());
    }
    assert_eq!(winners, 1, "exactly one creator");
    assert!(stores[0].get(ns, "race").await.unwrap().is_some());

    stores[0]
        .put(ns, "counter", &0u64.to_be_bytes(), None)
        .await
        .unwrap();
    let (workers, each) = (16u64, 10u64);
    let mut tasks = Vec::new();
    for w in 0..workers {
        let s = stores[w as usize % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut retries = 0u64;
            for _ in 0..each {
                loop {
                    let cur = s.get(ns, "counter").await.unwrap().unwrap();
                    let n = u64::from_be_bytes(cur.as_slice().try_into().unwrap());
                    if s.compare_and_swap(
                        ns,
                        "counter",
                        Some(&cur),
                        Some(&(n + 1).to_be_bytes()),
                        None,
                    )
                    .await
                    .unwrap()
                    {
                        break;
                    }
                    retries += 1;
                }
            }
            retries
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let end = stores[0].get(ns, "counter").await.unwrap().unwrap();
    assert_eq!(
        u64::from_be_bytes(end.as_slice().try_into().unwrap()),
        workers * each,
        "no lost update"
    );
}

/// Runs the whole suite on a fresh, empty store.
pub(crate) async fn all(s: Arc<dyn Store>, clock: &TestClock) {
    basic(&*s).await;
    list(&*s).await;
    validation(&*s).await;
    expiry(&*s, clock).await;
    cas(&*s).await;
    concurrent_cas(std::slice::from_ref(&s)).await;
    transact(&*s, clock).await;
    concurrent_transact(std::slice::from_ref(&s)).await;
}

/// `transact`: all writes or none, conditions on every key, across namespaces.
pub(crate) async fn transact(s: &dyn Store, clock: &TestClock) {
    use remits_store::{Expect, TxWrite};
    let (rv, res, pol) = (
        Namespace::ReferenceValue,
        Namespace::Resource,
        Namespace::ResourcePolicy,
    );
    // Creates three keys in three namespaces (one of them a secret).
    let create = [
        TxWrite::put(rv, "tx/m", b"m1").expecting(Expect::Absent),
        TxWrite::put(res, "tx/key/1", b"pass1").expecting(Expect::Absent),
        TxWrite::put(pol, "tx/p", b"p1").expecting(Expect::Absent),
    ];
    assert!(s.transact(&create).await.unwrap());
    assert_eq!(v(s.get(rv, "tx/m").await.unwrap()), Some(b"m1".to_vec()));
    assert_eq!(
        v(s.get(res, "tx/key/1").await.unwrap()),
        Some(b"pass1".to_vec())
    );
    assert_eq!(v(s.get(pol, "tx/p").await.unwrap()), Some(b"p1".to_vec()));
    // Replayed: the first condition fails, nothing changes.
    assert!(!s.transact(&create).await.unwrap());
    // One failed condition among several: no write of the batch is applied.
    let mixed = [
        TxWrite::put(rv, "tx/m", b"m2").expecting(Expect::Value(b"m1")),
        TxWrite::put(res, "tx/key/1", b"pass2").expecting(Expect::Value(b"wrong")),
        TxWrite::put(Namespace::Config, "tx/new", b"n"),
    ];
    assert!(!s.transact(&mixed).await.unwrap());
    assert_eq!(v(s.get(rv, "tx/m").await.unwrap()), Some(b"m1".to_vec()));
    assert_eq!(
        v(s.get(res, "tx/key/1").await.unwrap()),
        Some(b"pass1".to_vec())
    );
    assert_eq!(v(s.get(Namespace::Config, "tx/new").await.unwrap()), None);
    // Update all three, then delete all three.
    let update = [
        TxWrite::put(rv, "tx/m", b"m2").expecting(Expect::Value(b"m1")),
        TxWrite::put(res, "tx/key/1", b"pass2").expecting(Expect::Value(b"pass1")),
        TxWrite::put(pol, "tx/p", b"p2"),
    ];
    assert!(s.transact(&update).await.unwrap());
    assert_eq!(
        v(s.get(res, "tx/key/1").await.unwrap()),
        Some(b"pass2".to_vec())
    );
    let delete = [
        TxWrite::delete(rv, "tx/m").expecting(Expect::Value(b"m2")),
        TxWrite::delete(res, "tx/key/1"),
        TxWrite::delete(pol, "tx/p"),
        // Deleting an absent key is fine.
        TxWrite::delete(pol, "tx/never"),
    ];
    assert!(s.transact(&delete).await.unwrap());
    for (ns, k) in [(rv, "tx/m"), (res, "tx/key/1"), (pol, "tx/p")] {
        assert_eq!(v(s.get(ns, k).await.unwrap()), None, "{ns}/{k}");
    }
    // Expired values count as absent; new values carry their expiry.
    let soon = clock.now() + Duration::from_secs(10);
    let mut w =
        TxWrite::put(Namespace::LaunchSession, "tx-sess", b"keys").expecting(Expect::Absent);
    w.expires_at = Some(soon);
    assert!(s.transact(&[w]).await.unwrap());
    assert!(!s.transact(&[w]).await.unwrap());
    clock.advance(Duration::from_secs(11));
    assert_eq!(
        v(s.get(Namespace::LaunchSession, "tx-sess").await.unwrap()),
        None
    );
    assert!(s.transact(&[w]).await.unwrap());
    // Malformed batches are refused before any I/O.
    assert!(matches!(
        s.transact(&[]).await,
        Err(StoreError::InvalidTransaction(_))
    ));
    let twice = [
        TxWrite::put(rv, "tx/d", b"1"),
        TxWrite::put(rv, "tx/d", b"2"),
    ];
    assert!(matches!(
        s.transact(&twice).await,
        Err(StoreError::InvalidTransaction(_))
    ));
    assert_eq!(v(s.get(rv, "tx/d").await.unwrap()), None);
    let too_many: Vec<String> = (0..=remits_store::MAX_TRANSACTION_WRITES)
        .map(|i| format!("tx/many/{i}"))
        .collect();
    let batch: Vec<TxWrite<'_>> = too_many.iter().map(|k| TxWrite::put(rv, k, b"x")).collect();
    assert!(matches!(
        s.transact(&batch).await,
        Err(StoreError::InvalidTransaction(_))
    ));
    assert!(matches!(
        s.transact(&[TxWrite::put(rv, "", b"x")]).await,
        Err(StoreError::InvalidKey { .. })
    ));
}

/// Many tasks (over one or several store handles) race to take the same pair of keys with
/// `Expect::Absent`: exactly one transaction wins, and both keys hold its values.
pub(crate) async fn concurrent_transact(stores: &[Arc<dyn Store>]) {
    use remits_store::{Expect, TxWrite};
    let mut tasks = Vec::new();
    for i in 0..16u8 {
        let s = stores[usize::from(i) % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            let val = [i];
            // Half take the keys in one order, half in the other (lock ordering).
            let (a, b) = if i % 2 == 0 {
                ("race/a", "race/b")
            } else {
                ("race/b", "race/a")
            };
            s.transact(&[
                TxWrite::put(Namespace::Config, a, &val).expecting(Expect::Absent),
                TxWrite::put(Namespace::Config, b, &val).expecting(Expect::Absent),
            ])
            .await
            .map(|won| won.then_some(i))
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        if let Some(i) = t.await.unwrap().unwrap() {
            winners.push(i);
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one transaction wins: {winners:?}"
    );
    let s = &stores[0];
    let a = v(s.get(Namespace::Config, "race/a").await.unwrap());
    let b = v(s.get(Namespace::Config, "race/b").await.unwrap());
    assert_eq!(a, Some(vec![winners[0]]));
    assert_eq!(a, b);
}
