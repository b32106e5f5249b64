//! The conformance suite against every backend, plus encryption-at-rest, restart, crash
//! (SIGKILL) and multi-replica tests.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod conformance;

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use conformance::TestClock;
use remits_store::testing::PostgresServer;
use remits_store::{
    EmbeddedStore, Kek, MemoryStore, Namespace, PostgresStore, RollbackMarks, Store, StoreError,
    StoreOptions,
};

const SECRET: &[u8] = b"the-launch-codes-0123456789-PLAINTEXT-MARKER";

fn kek(b: u8) -> Kek {
    Kek::from_bytes([b; 32])
}

fn opts(clock: &Arc<TestClock>) -> StoreOptions {
    StoreOptions::default().with_clock(clock.clone())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every file under `dir` (recursively) that contains `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            hits.extend(files_containing(&p, needle));
        } else if let Ok(data) = std::fs::read(&p) {
            if contains(&data, needle) {
                hits.push(p.display().to_string());
            }
        }
    }
    hits
}

// ---------------------------------------------------------------- memory

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_conformance() {
    let clock = TestClock::new();
    let s: Arc<dyn Store> = Arc::new(MemoryStore::with_options(opts(&clock)));
    conformance::all(s, &clock).await;
}

// ---------------------------------------------------------------- embedded

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let s: Arc<dyn Store> =
        Arc::new(EmbeddedStore::open_with(dir.path(), Some(kek(1)), opts(&clock)).unwrap());
    conformance::all(s, &clock).await;
}

#[tokio::test]
async fn embedded_survives_restart_and_checks_the_kek() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = EmbeddedStore::open(dir.path(), Some(kek(1))).unwrap();
        s.put(Namespace::Resource, "r/k/t", SECRET, None)
            .await
            .unwrap();
        s.put(Namespace::Config, "c", b"plain config", None)
            .await
            .unwrap();
    }
    // The file holds neither the secret nor the (also sealed) config value in clear.
    let data = std::fs::read(dir.path().join(remits_store::EMBEDDED_FILE_NAME)).unwrap();
    assert!(!contains(&data, SECRET));
    assert!(!contains(&data, b"plain config"));
    {
        let s = EmbeddedStore::open(dir.path(), Some(kek(1))).unwrap();
        assert_eq!(
            s.get(Namespace::Resource, "r/k/t")
                .await
                .unwrap()
                .unwrap()
                .as_slice(),
            SECRET
        );
        assert_eq!(s.list(Namespace::Resource, "").await.unwrap(), ["r/k/t"]);
    }
    // Wrong KEK, or none: refused at open, before anything is read.
    assert!(matches!(
        EmbeddedStore::open(dir.path(), Some(kek(2))),
        Err(StoreError::KekMismatch { .. })
    ));
    assert!(matches!(
        EmbeddedStore::open(dir.path(), None),
        Err(StoreError::KekMismatch { .. })
    ));
}

/// Rewrites one stored record of the embedded file directly (the store must be closed).
fn embedded_raw_copy(dir: &Path, ns: Namespace, from: &str, to: &str, flip: Option<usize>) {
    use redb::{ReadableTable, TableDefinition};
    type Key = (&'static str, &'static str);
    type Value = (Option<u64>, &'static [u8]);
    const KV: TableDefinition<Key, Value> = TableDefinition::new("remits_kv");
    let db = redb::Database::open(dir.join(remits_store::EMBEDDED_FILE_NAME)).unwrap();
    let w = db.begin_write().unwrap();
    {
        let mut t = w.open_table(KV).unwrap();
        let (exp, mut bytes) = {
            let g = t.get((ns.as_str(), from)).unwrap().unwrap();
            let (e, b) = g.value();
            (e, b.to_vec())
        };
        if let Some(i) = flip {
            bytes[i] ^= 1;
        }
        t.insert((ns.as_str(), to), (exp, bytes.as_slice()))
            .unwrap();
    }
    w.commit().unwrap();
}

#[tokio::test]
async fn embedded_sealed_values_are_bound_to_their_key() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = EmbeddedStore::open(dir.path(), Some(kek(1))).unwrap();
        s.put(Namespace::Resource, "a/k/t", b"secret of a", None)
            .await
            .unwrap();
        s.put(Namespace::Resource, "b/k/t", b"secret of b", None)
            .await
            .unwrap();
    }
    embedded_raw_copy(dir.path(), Namespace::Resource, "a/k/t", "b/k/t", None);
    embedded_raw_copy(dir.path(), Namespace::Resource, "a/k/t", "c/k/t", Some(20));
    let s = EmbeddedStore::open(dir.path(), Some(kek(1))).unwrap();
    assert_eq!(
        s.get(Namespace::Resource, "a/k/t")
            .await
            .unwrap()
            .unwrap()
            .as_slice(),
        b"secret of a"
    );
    assert!(matches!(
        s.get(Namespace::Resource, "b/k/t").await,
        Err(StoreError::Crypto {
            ns: Namespace::Resource,
            ..
        })
    ));
    assert!(matches!(
        s.get(Namespace::Resource, "c/k/t").await,
        Err(StoreError::Crypto { .. })
    ));
    // CAS over an undecryptable value fails with the same error instead of overwriting it.
    assert!(matches!(
        s.compare_and_swap(
            Namespace::Resource,
            "b/k/t",
            Some(b"secret of a"),
            Some(b"x"),
            None
        )
        .await,
        Err(StoreError::Crypto { .. })
    ));
    // A plain put replaces it (the operator re-provisions the secret).
    s.put(Namespace::Resource, "b/k/t", b"again", None)
        .await
        .unwrap();
    assert_eq!(
        s.get(Namespace::Resource, "b/k/t")
            .await
            .unwrap()
            .unwrap()
            .as_slice(),
        b"again"
    );
}

/// Options with rollback marks loaded from `path`.
fn with_marks(path: &Path) -> StoreOptions {
    StoreOptions {
        rollback_marks: Some(RollbackMarks::open(path).unwrap()),
        ..StoreOptions::default()
    }
}

fn is_rollback(r: Result<impl std::fmt::Debug, StoreError>, want_found_below: u64) -> bool {
    match r {
        Err(StoreError::Rollback {
            namespace: Namespace::Resource,
            seen,
            found,
            ..
        }) => found < seen && seen >= want_found_below,
        other => {
            eprintln!("not a rollback: {other:?}");
            false
        }
    }
}

#[tokio::test]
async fn embedded_rolled_back_value_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let marks = local.path().join("rollback-marks");
    let ns = Namespace::Resource;
    {
        let s = EmbeddedStore::open_with(dir.path(), Some(kek(1)), with_marks(&marks)).unwrap();
        s.put(ns, "r/k/t", b"old secret", None).await.unwrap();
    }
    // The attacker keeps a copy of the old sealed value (under another key: never read there).
    embedded_raw_copy(dir.path(), ns, "r/k/t", "saved/k/t", None);
    {
        let s = EmbeddedStore::open_with(dir.path(), Some(kek(1)), with_marks(&marks)).unwrap();
        s.put(ns, "r/k/t", b"new secret", None).await.unwrap();
        assert_eq!(
            s.get(ns, "r/k/t").await.unwrap().unwrap().as_slice(),
            b"new secret"
        );
    }
    // ... and writes it back over the newer one.
    embedded_raw_copy(dir.path(), ns, "saved/k/t", "r/k/t", None);
    let s = EmbeddedStore::open_with(dir.path(), Some(kek(1)), with_marks(&marks)).unwrap();
    assert!(is_rollback(s.get(ns, "r/k/t").await, 2));
    // Nor can a compare-and-swap be based on it.
    assert!(is_rollback(
        s.compare_and_swap(ns, "r/k/t", Some(b"old secret"), Some(b"x"), None)
            .await,
        2
    ));
    // The operator re-provisions the secret: a fresh version above the mark.
    s.put(ns, "r/k/t", b"third", None).await.unwrap();
    assert_eq!(
        s.get(ns, "r/k/t").await.unwrap().unwrap().as_slice(),
        b"third"
    );
    // A value deleted and then replayed is refused too.
    assert!(s.delete(ns, "r/k/t").await.unwrap());
    drop(s);
    embedded_raw_copy(dir.path(), ns, "saved/k/t", "r/k/t", None);
    let s = EmbeddedStore::open_with(dir.path(), Some(kek(1)), with_marks(&marks)).unwrap();
    assert!(is_rollback(s.get(ns, "r/k/t").await, 3));
    drop(s);
    // What the marks cannot do: a store without them (or with a fresh marks file, e.g. a new
    // machine) serves the replayed value.
    let s = EmbeddedStore::open(dir.path(), Some(kek(1))).unwrap();
    assert_eq!(
        s.get(ns, "r/k/t").await.unwrap().unwrap().as_slice(),
        b"old secret"
    );
}

#[tokio::test]
async fn embedded_without_kek_refuses_secrets_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = EmbeddedStore::open(dir.path(), None).unwrap();
        assert!(matches!(
            s.put(Namespace::Resource, "r/k/t", b"x", None).await,
            Err(StoreError::KekRequired {
                ns: Namespace::Resource
            })
        ));
        assert!(matches!(
            s.get(Namespace::Resource, "r/k/t").await,
            Err(StoreError::KekRequired { .. })
        ));
        s.put(Namespace::Session, "s", b"ok", None).await.unwrap();
    }
    {
        let allow = StoreOptions {
            allow_plaintext: true,
            ..StoreOptions::default()
        };
        let s = EmbeddedStore::open_with(dir.path(), None, allow).unwrap();
        s.put(Namespace::Resource, "r/k/t", b"clear", None)
            .await
            .unwrap();
        assert_eq!(
            s.get(Namespace::Resource, "r/k/t")
                .await
                .unwrap()
                .unwrap()
                .as_slice(),
            b"clear"
        );
        assert_eq!(
            s.get(Namespace::Session, "s")
                .await
                .unwrap()
                .unwrap()
                .as_slice(),
            b"ok"
        );
    }
    // A plaintext store cannot silently become "encrypted" with half of its values in clear.
    assert!(matches!(
        EmbeddedStore::open(dir.path(), Some(kek(1))),
        Err(StoreError::KekMismatch { .. })
    ));
}

const CHILD_ENV: &str = "REMITS_STORE_SIGKILL_CHILD_DIR";

/// Child half of `embedded_write_survives_sigkill`: a no-op unless started by it.
#[test]
fn sigkill_child_writer() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let s = EmbeddedStore::open(Path::new(&dir), Some(kek(7))).unwrap();
        let mut out = std::io::stdout();
        for i in 0u32.. {
            let value = format!("value {i}");
            s.put(
                Namespace::Resource,
                &format!("r/k/{i:06}"),
                value.as_bytes(),
                None,
            )
            .await
            .unwrap();
            use std::io::Write;
            writeln!(out, "acked {i}").unwrap();
            out.flush().unwrap();
        }
    });
}

#[test]
fn embedded_write_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "sigkill_child_writer",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut last_acked = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("acked ") {
            let n: u32 = n.parse().unwrap();
            last_acked = Some(n);
            if n >= 30 {
                break;
            }
        }
    }
    // SIGKILL while the child keeps writing.
    child.kill().unwrap();
    child.wait().unwrap();
    let last = last_acked.expect("child acknowledged writes");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let s = EmbeddedStore::open(dir.path(), Some(kek(7))).unwrap();
        for i in 0..=last {
            let got = s
                .get(Namespace::Resource, &format!("r/k/{i:06}"))
                .await
                .unwrap();
            assert_eq!(
                got.as_deref().map(Vec::as_slice),
                Some(format!("value {i}").as_bytes()),
                "write {i} was acknowledged"
            );
        }
        // Writes after the last ack may or may not have landed, but whatever is there is whole.
        for k in s.list(Namespace::Resource, "r/k/").await.unwrap() {
            assert!(s.get(Namespace::Resource, &k).await.unwrap().is_some());
        }
    });
}

// ---------------------------------------------------------------- postgres

async fn fresh_database(server: &PostgresServer, name: &str) -> String {
    let (client, conn) = tokio_postgres::connect(&server.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    let h = tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    drop(client);
    let _ = h.await;
    format!("postgresql://postgres@127.0.0.1:{}/{name}", server.port())
}

async fn raw_client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_conformance_and_encryption() {
    let Some(server) = PostgresServer::start().unwrap() else {
        return;
    };

    // The shared suite.
    let url = fresh_database(&server, "conformance").await;
    let clock = TestClock::new();
    let s: Arc<dyn Store> = Arc::new(
        PostgresStore::connect_with(&url, Some(kek(1)), opts(&clock), 8)
            .await
            .unwrap(),
    );
    conformance::all(s, &clock).await;

    // Encryption at rest: neither the table nor any file of the cluster (heap, WAL) holds the
    // plaintext.
    let url = fresh_database(&server, "sealed").await;
    let s = PostgresStore::connect(&url, Some(kek(1))).await.unwrap();
    s.put(Namespace::Resource, "a/k/t", SECRET, None)
        .await
        .unwrap();
    s.put(Namespace::Resource, "b/k/t", b"secret of b", None)
        .await
        .unwrap();
    let raw = raw_client(&url).await;
    let rows = raw.query("SELECT value FROM remits_kv", &[]).await.unwrap();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        let v: &[u8] = r.get(0);
        assert!(!contains(v, SECRET) && !contains(v, b"secret of b"));
        assert!(v.starts_with(b"rmse\x02"));
    }
    raw.batch_execute("CHECKPOINT").await.unwrap();
    assert_eq!(
        files_containing(&server.data_dir(), SECRET),
        Vec::<String>::new()
    );

    // A value moved to another key fails authentication; so does a flipped bit.
    raw.execute(
        "UPDATE remits_kv SET value = (SELECT value FROM remits_kv WHERE key = 'a/k/t') WHERE key = 'b/k/t'",
        &[],
    )
    .await
    .unwrap();
    raw.execute(
        "INSERT INTO remits_kv (ns, key, value) SELECT ns, 'c/k/t', set_byte(value, 30, get_byte(value, 30) # 1) FROM remits_kv WHERE key = 'a/k/t'",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        s.get(Namespace::Resource, "a/k/t")
            .await
            .unwrap()
            .unwrap()
            .as_slice(),
        SECRET
    );
    assert!(matches!(
        s.get(Namespace::Resource, "b/k/t").await,
        Err(StoreError::Crypto { .. })
    ));
    assert!(matches!(
        s.get(Namespace::Resource, "c/k/t").await,
        Err(StoreError::Crypto { .. })
    ));

    // Wrong KEK / no KEK: refused at connect.
    assert!(matches!(
        PostgresStore::connect(&url, Some(kek(2))).await,
        Err(StoreError::KekMismatch { .. })
    ));
    assert!(matches!(
        PostgresStore::connect(&url, None).await,
        Err(StoreError::KekMismatch { .. })
    ));

    // No KEK: secrets refused.
    let url = fresh_database(&server, "plain").await;
    let p = PostgresStore::connect(&url, None).await.unwrap();
    assert!(matches!(
        p.put(Namespace::Resource, "r/k/t", b"x", None).await,
        Err(StoreError::KekRequired { .. })
    ));
    p.put(Namespace::Session, "s", b"ok", None).await.unwrap();
    assert_eq!(
        p.get(Namespace::Session, "s")
            .await
            .unwrap()
            .unwrap()
            .as_slice(),
        b"ok"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rolled_back_row_is_refused() {
    let Some(server) = PostgresServer::start().unwrap() else {
        return;
    };
    let url = fresh_database(&server, "rollback").await;
    let local = tempfile::tempdir().unwrap();
    let marks_a = local.path().join("marks-a");
    let marks_b = local.path().join("marks-b");
    let ns = Namespace::Resource;
    let a = PostgresStore::connect_with(&url, Some(kek(1)), with_marks(&marks_a), 4)
        .await
        .unwrap();
    let b = PostgresStore::connect_with(&url, Some(kek(1)), with_marks(&marks_b), 4)
        .await
        .unwrap();
    a.put(ns, "r/k/t", b"old secret", None).await.unwrap();
    let raw = raw_client(&url).await;
    // The database administrator keeps the old row (a backup) ...
    raw.batch_execute("CREATE TABLE old_rows AS SELECT * FROM remits_kv WHERE key = 'r/k/t'")
        .await
        .unwrap();
    a.put(ns, "r/k/t", b"new secret", None).await.unwrap();
    // Replica b reads the new value (its mark moves) ...
    assert_eq!(
        b.get(ns, "r/k/t").await.unwrap().unwrap().as_slice(),
        b"new secret"
    );
    // ... then swaps the old row back in, version column and all, and in a second attempt with
    // the version column raised: the version that counts is the one sealed in the value.
    for version in ["o.version", "1000000"] {
        raw.batch_execute(&format!(
            "UPDATE remits_kv SET value = o.value, expires_at = o.expires_at, version = {version} \
             FROM old_rows o WHERE remits_kv.ns = o.ns AND remits_kv.key = o.key"
        ))
        .await
        .unwrap();
        assert!(is_rollback(a.get(ns, "r/k/t").await, 2), "{version}");
        assert!(is_rollback(b.get(ns, "r/k/t").await, 2), "{version}");
        assert!(is_rollback(
            a.compare_and_swap(ns, "r/k/t", Some(b"old secret"), Some(b"x"), None)
                .await,
            2
        ));
    }
    // The marks survive a restart of the broker.
    drop(a);
    let a = PostgresStore::connect_with(&url, Some(kek(1)), with_marks(&marks_a), 4)
        .await
        .unwrap();
    assert!(is_rollback(a.get(ns, "r/k/t").await, 2));
    // What the marks cannot do: a replica that never saw the newer value (no or fresh marks)
    // serves the replayed one.
    let fresh = PostgresStore::connect(&url, Some(kek(1))).await.unwrap();
    assert_eq!(
        fresh.get(ns, "r/k/t").await.unwrap().unwrap().as_slice(),
        b"old secret"
    );
    // Re-provisioning writes a version above every mark (even with the column raised by hand).
    a.put(ns, "r/k/t", b"third", None).await.unwrap();
    assert_eq!(
        b.get(ns, "r/k/t").await.unwrap().unwrap().as_slice(),
        b"third"
    );
    // Deleted, then the old row inserted again: refused by both.
    assert!(a.delete(ns, "r/k/t").await.unwrap());
    raw.batch_execute("INSERT INTO remits_kv SELECT * FROM old_rows")
        .await
        .unwrap();
    assert!(is_rollback(a.get(ns, "r/k/t").await, 3));
    assert!(is_rollback(b.get(ns, "r/k/t").await, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_share_state() {
    let Some(server) = PostgresServer::start().unwrap() else {
        return;
    };
    let url = server.url();
    // Two replicas connecting at once: schema creation does not race.
    let (a, b) = tokio::join!(
        PostgresStore::connect(&url, Some(kek(3))),
        PostgresStore::connect(&url, Some(kek(3)))
    );
    let (a, b): (Arc<dyn Store>, Arc<dyn Store>) = (Arc::new(a.unwrap()), Arc::new(b.unwrap()));
    a.put(Namespace::Resource, "r/k/t", SECRET, None)
        .await
        .unwrap();
    assert_eq!(
        b.get(Namespace::Resource, "r/k/t")
            .await
            .unwrap()
            .unwrap()
            .as_slice(),
        SECRET
    );
    // A session created on one replica is advanced on the other.
    assert!(a
        .compare_and_swap(Namespace::Session, "sid", None, Some(b"authed"), None)
        .await
        .unwrap());
    assert!(b
        .compare_and_swap(
            Namespace::Session,
            "sid",
            Some(b"authed"),
            Some(b"attested"),
            None
        )
        .await
        .unwrap());
    assert!(!a
        .compare_and_swap(Namespace::Session, "sid", Some(b"authed"), Some(b"x"), None)
        .await
        .unwrap());
    assert_eq!(
        a.get(Namespace::Session, "sid")
            .await
            .unwrap()
            .unwrap()
            .as_slice(),
        b"attested"
    );
    assert!(b.delete(Namespace::Resource, "r/k/t").await.unwrap());
    assert!(a.get(Namespace::Resource, "r/k/t").await.unwrap().is_none());
    // Concurrent CAS spread over both replicas: one creator, no lost update.
    conformance::concurrent_cas(&[a.clone(), b.clone()]).await;
    // Multi-key transactions from two replicas exclude each other too.
    a.delete(Namespace::Config, "race/a").await.unwrap();
    a.delete(Namespace::Config, "race/b").await.unwrap();
    conformance::concurrent_transact(&[a, b]).await;
}

/// Waits up to `within` for `f` to hold; returns how long it took.
async fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = std::time::Instant::now();
    while start.elapsed() < within {
        if f() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_changes_reach_other_replicas_and_survive_a_restart() {
    let Some(mut server) = PostgresServer::start().unwrap() else {
        return;
    };
    let url = server.url();
    let a = PostgresStore::connect(&url, Some(kek(4))).await.unwrap();
    let b = PostgresStore::connect(&url, Some(kek(4))).await.unwrap();
    let ns = Namespace::ReferenceValue;
    eventually(Duration::from_secs(5), || b.change_epoch(ns).is_some())
        .await
        .expect("listener connects");
    // A write through replica A moves replica B's epoch of that namespace, quickly.
    let before = b.change_epoch(ns).unwrap();
    a.put(ns, "k", b"v1", None).await.unwrap();
    let took = eventually(Duration::from_secs(1), || {
        b.change_epoch(ns).is_some_and(|e| e > before)
    })
    .await
    .expect("B learns of A's write within 1 s");
    println!("change announced after {took:?}");
    // So does a write made directly in the database.
    let before = b.change_epoch(ns).unwrap();
    let raw = raw_client(&url).await;
    raw.execute("DELETE FROM remits_kv WHERE ns = 'reference-value'", &[])
        .await
        .unwrap();
    eventually(Duration::from_secs(1), || {
        b.change_epoch(ns).is_some_and(|e| e > before)
    })
    .await
    .expect("direct SQL writes are announced too");
    // Session writes (the hot path) announce nothing.
    let before = b.change_epoch(ns).unwrap();
    let s_before = b.change_epoch(Namespace::Session).unwrap();
    a.put(Namespace::Session, "sid", b"x", None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(b.change_epoch(ns), Some(before));
    assert_eq!(b.change_epoch(Namespace::Session), Some(s_before));
    drop(raw);

    // Database restart: the listener reports "not tracked" while it is down, reconnects, and
    // moves every epoch (announcements may have been missed); the pool reconnects too.
    let before = b.change_epoch(ns).unwrap();
    server.stop();
    eventually(Duration::from_secs(2), || b.change_epoch(ns).is_none())
        .await
        .expect("a lost listener stops answering epochs");
    server.restart().unwrap();
    eventually(Duration::from_secs(10), || {
        b.change_epoch(ns).is_some_and(|e| e > before)
    })
    .await
    .expect("the listener reconnects after the restart");
    let mut ok = false;
    for _ in 0..50 {
        if a.put(ns, "k", b"v2", None).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "the pool reconnects after a database restart");
    assert_eq!(b.get(ns, "k").await.unwrap().unwrap().as_slice(), b"v2");
}

fn openssl(dir: &Path, args: &[&str]) {
    let st = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "openssl {args:?}");
}

/// A CA `<name>.crt` and, signed by it, `server-<name>.crt`/`.key` for 127.0.0.1 and localhost.
fn make_ca_and_server(dir: &Path, name: &str) {
    let ca_key = format!("{name}.key");
    let ca = format!("{name}.crt");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &ca_key,
            "-out",
            &ca,
            "-subj",
            &format!("/CN={name}"),
            "-days",
            "2",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
    let key = format!("server-{name}.key");
    let csr = format!("server-{name}.csr");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &format!("server-{name}.crt"),
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_tls_modes() {
    use remits_store::{PostgresOptions, SslMode};
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        println!("SKIPPED: openssl not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    make_ca_and_server(d, "ca");
    make_ca_and_server(d, "other");
    let cert = std::fs::read(d.join("server-ca.crt")).unwrap();
    let key = std::fs::read(d.join("server-ca.key")).unwrap();
    let Some(server) = PostgresServer::start_tls(&cert, &key).unwrap() else {
        return;
    };
    let target = format!("127.0.0.1:{}", server.port());
    let opts = |mode: SslMode, ca: &str| PostgresOptions {
        sslmode: Some(mode),
        ssl_root_cert: Some(d.join(ca)),
        ..PostgresOptions::new(server.url())
    };
    // verify-full with the right CA: works (and the change listener connects over TLS too).
    let s = PostgresStore::connect_options(
        &opts(SslMode::VerifyFull, "ca.crt"),
        Some(kek(5)),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    s.put(Namespace::Config, "k", b"over tls", None)
        .await
        .unwrap();
    assert_eq!(
        s.get(Namespace::Config, "k")
            .await
            .unwrap()
            .unwrap()
            .as_slice(),
        b"over tls"
    );
    eventually(Duration::from_secs(5), || {
        s.change_epoch(Namespace::Config).is_some()
    })
    .await
    .expect("listener connects over TLS");
    // The same through the URL's sslmode/sslrootcert.
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        server.url(),
        d.join("ca.crt").display()
    );
    PostgresStore::connect_options(
        &PostgresOptions::new(url),
        Some(kek(5)),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    // A server certificate from another CA: refused, naming the database.
    for mode in [SslMode::VerifyFull, SslMode::VerifyCa] {
        let e = PostgresStore::connect_options(
            &opts(mode, "other.crt"),
            Some(kek(5)),
            StoreOptions::default(),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(e.contains(&target), "{e}");
        assert!(
            e.to_lowercase().contains("certificate") || e.contains("TLS"),
            "{e}"
        );
    }
    // Plain TCP to a server that requires TLS: refused by the server.
    let e = PostgresStore::connect_options(
        &opts(SslMode::Disable, "ca.crt"),
        Some(kek(5)),
        StoreOptions::default(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains(&target), "{e}");
    drop(s);

    // sslmode=require against a server without TLS: a clear error, no silent plain text.
    let Some(plain) = PostgresServer::start().unwrap() else {
        return;
    };
    let e = PostgresStore::connect_options(
        &PostgresOptions {
            sslmode: Some(SslMode::Require),
            ..PostgresOptions::new(format!(
                "postgresql://postgres:hunter2@127.0.0.1:{}/postgres",
                plain.port()
            ))
        },
        Some(kek(5)),
        StoreOptions::default(),
    )
    .await
    .unwrap_err()
    .to_string();
    println!("require without TLS: {e}");
    assert!(e.contains(&format!("127.0.0.1:{}", plain.port())), "{e}");
    assert!(e.contains("server does not support TLS"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
}
