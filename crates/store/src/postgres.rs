//! The PostgreSQL store, shared by several broker replicas.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres_rustls::MakeRustlsConnect;
use zeroize::Zeroizing;

use crate::changes::ChangeEpochs;
use crate::memory::same_value;
use crate::pgconn::{describe, resolve};
use crate::pgopts::PostgresOptions;
use crate::seal::{normalize_expiry, Sealer};
use crate::{
    check_transaction, Expect, Kek, Namespace, RollbackMarks, Store, StoreError, StoreOptions,
    TxWrite,
};

/// A version as PostgreSQL's `bigint` (versions stay far below `i64::MAX`; clamped).
fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A `bigint` version read back (a negative value, written by hand, counts as 0).
fn from_i64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The schema, created on connect if missing (under an advisory lock, so replicas starting
/// together do not race).
pub const SCHEMA: &str = "\
CREATE TABLE IF NOT EXISTS remits_kv (
    ns text NOT NULL,
    key text NOT NULL,
    value bytea NOT NULL,
    expires_at timestamptz,
    PRIMARY KEY (ns, key)
);
ALTER TABLE remits_kv ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 0;
CREATE SEQUENCE IF NOT EXISTS remits_kv_version;
CREATE INDEX IF NOT EXISTS remits_kv_expires_at ON remits_kv (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS remits_meta (
    name text PRIMARY KEY,
    value bytea NOT NULL
);
CREATE OR REPLACE FUNCTION remits_kv_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('remits_kv', '*');
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('remits_kv', OLD.ns);
    ELSE
        PERFORM pg_notify('remits_kv', NEW.ns);
    END IF;
    RETURN NULL;
END $$;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'remits_kv'::regclass
                   AND tgname = 'remits_kv_notify_write') THEN
        CREATE TRIGGER remits_kv_notify_write AFTER INSERT OR UPDATE ON remits_kv
            FOR EACH ROW WHEN (NEW.ns <> 'session') EXECUTE FUNCTION remits_kv_notify();
        CREATE TRIGGER remits_kv_notify_delete AFTER DELETE ON remits_kv
            FOR EACH ROW WHEN (OLD.ns <> 'session') EXECUTE FUNCTION remits_kv_notify();
        CREATE TRIGGER remits_kv_notify_truncate AFTER TRUNCATE ON remits_kv
            FOR EACH STATEMENT EXECUTE FUNCTION remits_kv_notify();
    END IF;
END $$;";

/// The channel on which every committed change of a non-session row is announced; the payload
/// is the namespace name (`*` after a `TRUNCATE`).
pub const NOTIFY_CHANNEL: &str = "remits_kv";

/// How often the change listener checks its connection (a query with this timeout).
const HEARTBEAT: Duration = Duration::from_millis(500);

/// Advisory lock id taken while creating the schema ("remits" in ASCII).
const SCHEMA_LOCK: i64 = 0x7265_6d69_7473;

const GET: &str = "SELECT value, expires_at FROM remits_kv WHERE ns = $1 AND key = $2 \
                   AND (expires_at IS NULL OR expires_at > $3)";
const PUT: &str = "INSERT INTO remits_kv (ns, key, value, expires_at) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (ns, key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at";
/// The version of a new value: above the sequence, the row's current version and `$3`.
const NEXT_VERSION: &str = "SELECT GREATEST(nextval('remits_kv_version'), \
                            COALESCE((SELECT version FROM remits_kv WHERE ns = $1 AND key = $2), 0) + 1, $3)";
/// Writes a versioned value unless the row already holds a version at least as high (a
/// concurrent writer got there first: the caller picks a new version and tries again).
const PUT_VERSIONED: &str = "INSERT INTO remits_kv (ns, key, value, expires_at, version) VALUES ($1, $2, $3, $4, $5) \
                   ON CONFLICT (ns, key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, \
                   version = EXCLUDED.version WHERE remits_kv.version < EXCLUDED.version";
/// Attempts of a versioned put before giving up (each lost only to a concurrent write).
const PUT_ATTEMPTS: usize = 8;
const DELETE: &str = "DELETE FROM remits_kv WHERE ns = $1 AND key = $2 \
                      RETURNING (expires_at IS NULL OR expires_at > $3)";
const LIST: &str = "SELECT key FROM remits_kv WHERE ns = $1 AND starts_with(key, $2) \
                    AND (expires_at IS NULL OR expires_at > $3) ORDER BY key COLLATE \"C\"";
const LOCK_ROW: &str =
    "SELECT value, expires_at, version FROM remits_kv WHERE ns = $1 AND key = $2 FOR UPDATE";
const NEXT_VERSION_LOCKED: &str = "SELECT GREATEST(nextval('remits_kv_version'), $1)";
const INSERT_NEW: &str =
    "INSERT INTO remits_kv (ns, key, value, expires_at, version) VALUES ($1, $2, $3, $4, $5) \
                          ON CONFLICT (ns, key) DO NOTHING";
const UPDATE: &str =
    "UPDATE remits_kv SET value = $3, expires_at = $4, version = $5 WHERE ns = $1 AND key = $2";
const DELETE_ROW: &str = "DELETE FROM remits_kv WHERE ns = $1 AND key = $2";
const PURGE: &str = "DELETE FROM remits_kv WHERE expires_at IS NOT NULL AND expires_at <= $1";

fn pg(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::postgres(format!("{}: {}", db.code().code(), db.message())),
        None => {
            // tokio-postgres keeps the cause ("server does not support TLS", "invalid peer
            // certificate: UnknownIssuer", an OS error) in the source chain.
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                src = s.source();
            }
            StoreError::postgres(msg)
        }
    }
}

fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg(e),
        other => StoreError::postgres(other),
    }
}

/// A store in a PostgreSQL database (table `remits_kv`, see [`SCHEMA`]).
///
/// Any number of replicas may share one database: every operation is one statement, except
/// compare-and-swap, which is one transaction holding the row lock (`SELECT … FOR UPDATE`, or
/// `INSERT … ON CONFLICT DO NOTHING` when the key is absent), so exactly one of several
/// concurrent swaps from any replicas wins. Writes return after PostgreSQL commits them (with
/// the server's default `synchronous_commit = on` that means after the WAL is flushed).
/// Expiry is judged with the store's injected clock, not the database server's.
pub struct PostgresStore {
    pool: Pool,
    sealer: Sealer,
    opts: StoreOptions,
    epochs: Arc<ChangeEpochs>,
    listener: tokio::task::AbortHandle,
    /// `host:port` for error messages.
    target: String,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("encrypted", &self.sealer.encrypts())
            .field("pool", &self.pool.status())
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects with default options and at most 16 connections, creating the schema if needed.
    /// `url`: a libpq-style URL or key=value string (`postgresql://user@127.0.0.1:5432/db`).
    /// The KEK rules are those of [`crate::EmbeddedStore::open`]; every replica must use the
    /// same KEK ([`StoreError::KekMismatch`] otherwise).
    ///
    /// # Errors
    ///
    /// As [`PostgresStore::connect_options`].
    pub async fn connect(url: &str, kek: Option<Kek>) -> Result<Self, StoreError> {
        Self::connect_with(url, kek, StoreOptions::default(), 16).await
    }

    /// Like [`PostgresStore::connect`], with options and a connection-pool size.
    ///
    /// # Errors
    ///
    /// As [`PostgresStore::connect_options`].
    pub async fn connect_with(
        url: &str,
        kek: Option<Kek>,
        opts: StoreOptions,
        max_connections: usize,
    ) -> Result<Self, StoreError> {
        let pg_opts = PostgresOptions {
            max_connections,
            ..PostgresOptions::new(url)
        };
        Self::connect_options(&pg_opts, kek, opts).await
    }

    /// Connects as `pg` says (TLS, password file, `PG*` environment variables; see
    /// [`PostgresOptions`]), creating the schema if needed. Errors name the host and port,
    /// never the password.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] naming host and port when the connection, TLS set-up or schema
    /// creation fails, [`StoreError::KekMismatch`] for another KEK than the database's.
    pub async fn connect_options(
        pg: &PostgresOptions,
        kek: Option<Kek>,
        opts: StoreOptions,
    ) -> Result<Self, StoreError> {
        let resolved = resolve(pg)?;
        let target = resolved.target.clone();
        let listen_config = resolved.config.clone();
        let mgr = Manager::from_config(
            resolved.config,
            resolved.tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let max = if pg.max_connections == 0 {
            16
        } else {
            pg.max_connections
        };
        let pool = Pool::builder(mgr)
            .max_size(max)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(Duration::from_secs(10)))
            .wait_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(StoreError::postgres)?;
        let sealer = Sealer::new(kek.as_ref(), &opts);
        drop(kek);
        let epochs = Arc::new(ChangeEpochs::new(false));
        let listener =
            tokio::spawn(listen(listen_config, resolved.tls, epochs.clone())).abort_handle();
        let store = PostgresStore {
            pool,
            sealer,
            opts,
            epochs,
            listener,
            target,
        };
        store.init().await.map_err(|e| store.at_target(e))?;
        Ok(store)
    }

    /// Prefixes a backend error with the database address.
    fn at_target(&self, e: StoreError) -> StoreError {
        match e {
            StoreError::Backend { backend, reason } => StoreError::Backend {
                backend,
                reason: format!("{}: {reason}", self.target),
            },
            other => other,
        }
    }

    async fn init(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await.map_err(pool_err)?;
        let tx = client.transaction().await.map_err(pg)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
            .await
            .map_err(pg)?;
        tx.batch_execute(SCHEMA).await.map_err(pg)?;
        let rec = self.sealer.key_check()?;
        tx.execute(
            "INSERT INTO remits_meta (name, value) VALUES ('key_check', $1) ON CONFLICT (name) DO NOTHING",
            &[&rec],
        )
        .await
        .map_err(pg)?;
        let row = tx
            .query_one(
                "SELECT value FROM remits_meta WHERE name = 'key_check'",
                &[],
            )
            .await
            .map_err(pg)?;
        let stored: &[u8] = row.try_get(0).map_err(pg)?;
        self.sealer.verify_key_check(stored)?;
        tx.commit().await.map_err(pg)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| self.at_target(pool_err(e)))
    }
}

/// Keeps one connection listening on [`NOTIFY_CHANNEL`] and moves `epochs` on every
/// announcement; while it is not connected `epochs` answers `None` (callers read through), and
/// every reconnection moves every epoch (announcements may have been missed). Runs until aborted.
async fn listen(config: tokio_postgres::Config, tls: MakeRustlsConnect, epochs: Arc<ChangeEpochs>) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let started = std::time::Instant::now();
        let r = listen_once(&config, tls.clone(), &epochs).await;
        epochs.set_live(false);
        if let Err(e) = r {
            tracing::warn!(error = %e, database = %describe(&config), "postgres change listener disconnected; reading through until it reconnects");
        }
        if started.elapsed() > Duration::from_secs(10) {
            backoff = Duration::from_millis(50);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

async fn listen_once(
    config: &tokio_postgres::Config,
    tls: MakeRustlsConnect,
    epochs: &Arc<ChangeEpochs>,
) -> Result<(), StoreError> {
    use tokio_postgres::AsyncMessage;
    let (client, mut conn) = tokio::time::timeout(Duration::from_secs(10), config.connect(tls))
        .await
        .map_err(|_| StoreError::postgres("change listener: connect timed out"))?
        .map_err(pg)?;
    let feed = epochs.clone();
    // Drives the connection (requests and responses too) and turns notifications into epochs.
    let mut driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => match n.payload().parse::<Namespace>() {
                    Ok(ns) => feed.bump(ns),
                    Err(_) => feed.bump_all(),
                },
                Some(Ok(_)) => {}
                Some(Err(e)) => return pg(e),
                None => return StoreError::postgres("change listener: connection closed"),
            }
        }
    });
    struct AbortOnDrop(tokio::task::AbortHandle);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let _guard = AbortOnDrop(driver.abort_handle());
    let query = |q: &'static str| {
        let client = &client;
        async move {
            tokio::time::timeout(HEARTBEAT, client.simple_query(q))
                .await
                .map_err(|_| StoreError::postgres("change listener: no answer in time"))?
                .map_err(pg)
        }
    };
    query("LISTEN remits_kv").await?;
    epochs.set_live(true);
    let mut tick = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            r = &mut driver => {
                return Err(r.unwrap_or_else(|e| StoreError::postgres(format!("change listener: {e}"))));
            }
            _ = tick.tick() => {
                query("").await?;
            }
        }
    }
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    fn change_epoch(&self, ns: Namespace) -> Option<u64> {
        self.epochs.get(ns)
    }

    async fn get(
        &self,
        ns: Namespace,
        key: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        self.opts.check_key(ns, key)?;
        self.sealer.check_ns(ns)?;
        let now = self.opts.clock.now();
        let client = self.client().await?;
        let stmt = client.prepare_cached(GET).await.map_err(pg)?;
        let row = client
            .query_opt(&stmt, &[&ns.as_str(), &key, &now])
            .await
            .map_err(pg)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let stored: &[u8] = row
            .try_get(0)
            .map_err(|e| StoreError::corrupt(ns, key, e.to_string()))?;
        let expires_at: Option<SystemTime> = row
            .try_get(1)
            .map_err(|e| StoreError::corrupt(ns, key, e.to_string()))?;
        let (value, version) = self.sealer.open(ns, key, expires_at, stored)?;
        self.opts.observe(ns, key, version, false).await?;
        Ok(Some(value))
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
        let expires_at = normalize_expiry(expires_at);
        let client = self.client().await?;
        if !RollbackMarks::tracks(ns) {
            // Sessions: version 0, one statement (no rollback marks are kept for them).
            let stored = self.sealer.seal(ns, key, value, 0, expires_at)?;
            let stmt = client.prepare_cached(PUT).await.map_err(pg)?;
            client
                .execute(&stmt, &[&ns.as_str(), &key, &stored, &expires_at])
                .await
                .map_err(pg)?;
            self.epochs.bump(ns);
            return Ok(());
        }
        let next = client.prepare_cached(NEXT_VERSION).await.map_err(pg)?;
        let put = client.prepare_cached(PUT_VERSIONED).await.map_err(pg)?;
        let floor = to_i64(self.opts.mark(ns, key).saturating_add(1));
        for _ in 0..PUT_ATTEMPTS {
            let row = client
                .query_one(&next, &[&ns.as_str(), &key, &floor])
                .await
                .map_err(pg)?;
            let version = from_i64(row.try_get(0).map_err(pg)?);
            let stored = self.sealer.seal(ns, key, value, version, expires_at)?;
            let n = client
                .execute(
                    &put,
                    &[&ns.as_str(), &key, &stored, &expires_at, &to_i64(version)],
                )
                .await
                .map_err(pg)?;
            if n == 1 {
                // Read-your-writes here; other replicas learn of it through the trigger's NOTIFY.
                self.epochs.bump(ns);
                let sealed = self.sealer.encrypts().then_some(version);
                return self.opts.observe(ns, key, sealed, true).await;
            }
        }
        Err(self.at_target(StoreError::postgres(format!(
            "put {ns}: lost {PUT_ATTEMPTS} times in a row to concurrent writes of the same key"
        ))))
    }

    async fn delete(&self, ns: Namespace, key: &str) -> Result<bool, StoreError> {
        self.opts.check_key(ns, key)?;
        self.sealer.check_ns(ns)?;
        let now = self.opts.clock.now();
        let client = self.client().await?;
        let stmt = client.prepare_cached(DELETE).await.map_err(pg)?;
        let row = client
            .query_opt(&stmt, &[&ns.as_str(), &key, &now])
            .await
            .map_err(pg)?;
        self.epochs.bump(ns);
        match row {
            None => Ok(false),
            Some(r) => r.try_get::<_, bool>(0).map_err(pg),
        }
    }

    async fn list(&self, ns: Namespace, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.opts.check_prefix(ns, prefix)?;
        self.sealer.check_ns(ns)?;
        let now = self.opts.clock.now();
        let client = self.client().await?;
        let stmt = client.prepare_cached(LIST).await.map_err(pg)?;
        let rows = client
            .query(&stmt, &[&ns.as_str(), &prefix, &now])
            .await
            .map_err(pg)?;
        rows.iter()
            .map(|r| r.try_get::<_, String>(0).map_err(pg))
            .collect()
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
        self.sealer.check_ns(ns)?;
        if let Some(v) = new {
            self.opts.check_value(ns, v)?;
        }
        let expires_at = normalize_expiry(expires_at);
        let tracked = RollbackMarks::tracks(ns);
        let mut client = self.client().await?;
        let lock_row = client.prepare_cached(LOCK_ROW).await.map_err(pg)?;
        let next_version = client
            .prepare_cached(NEXT_VERSION_LOCKED)
            .await
            .map_err(pg)?;
        let update = client.prepare_cached(UPDATE).await.map_err(pg)?;
        let insert_new = client.prepare_cached(INSERT_NEW).await.map_err(pg)?;
        let delete_row = client.prepare_cached(DELETE_ROW).await.map_err(pg)?;
        let tx = client.transaction().await.map_err(pg)?;
        // Read committed + FOR UPDATE: a concurrent swap of the same row waits for this
        // transaction and then re-reads the row it committed (or finds it deleted).
        let row = tx
            .query_opt(&lock_row, &[&ns.as_str(), &key])
            .await
            .map_err(pg)?;
        let row_exists = row.is_some();
        let mut prev_version = 0;
        let current = match &row {
            Some(r) => {
                let exp: Option<SystemTime> = r.try_get(1).map_err(pg)?;
                prev_version = from_i64(r.try_get(2).map_err(pg)?);
                if self.opts.live(exp) {
                    let stored: &[u8] = r
                        .try_get(0)
                        .map_err(|e| StoreError::corrupt(ns, key, e.to_string()))?;
                    let (v, version) = self.sealer.open(ns, key, exp, stored)?;
                    self.opts.check_mark(ns, key, version)?;
                    Some(v)
                } else {
                    None
                }
            }
            None => None,
        };
        if !same_value(current.as_deref().map(Vec::as_slice), expected) {
            // Dropping the transaction rolls it back.
            return Ok(false);
        }
        let mut written = None;
        let new_stored = match new {
            Some(v) => {
                let version = if tracked {
                    let floor = prev_version
                        .saturating_add(1)
                        .max(self.opts.mark(ns, key).saturating_add(1));
                    let r = tx
                        .query_one(&next_version, &[&to_i64(floor)])
                        .await
                        .map_err(pg)?;
                    from_i64(r.try_get(0).map_err(pg)?)
                } else {
                    0
                };
                written = Some(version);
                Some((self.sealer.seal(ns, key, v, version, expires_at)?, version))
            }
            None => None,
        };
        match (new_stored, row_exists) {
            (Some((v, version)), true) => {
                tx.execute(
                    &update,
                    &[&ns.as_str(), &key, &v, &expires_at, &to_i64(version)],
                )
                .await
                .map_err(pg)?;
            }
            (Some((v, version)), false) => {
                // Absent when we looked: another replica may insert concurrently; the unique
                // index makes exactly one insert succeed, the other sees 0 rows.
                let n = tx
                    .execute(
                        &insert_new,
                        &[&ns.as_str(), &key, &v, &expires_at, &to_i64(version)],
                    )
                    .await
                    .map_err(pg)?;
                if n == 0 {
                    return Ok(false);
                }
            }
            (None, true) => {
                tx.execute(&delete_row, &[&ns.as_str(), &key])
                    .await
                    .map_err(pg)?;
            }
            (None, false) => {}
        }
        tx.commit().await.map_err(pg)?;
        self.epochs.bump(ns);
        if self.sealer.encrypts() {
            if let Some(v) = written {
                self.opts.observe(ns, key, Some(v), true).await?;
            }
        }
        Ok(true)
    }

    async fn transact(&self, writes: &[TxWrite<'_>]) -> Result<bool, StoreError> {
        check_transaction(&self.opts, writes)?;
        for w in writes {
            self.sealer.check_ns(w.ns)?;
        }
        // Row locks in one global order (namespace, key), so concurrent transactions over
        // overlapping keys wait for each other instead of deadlocking.
        let mut order: Vec<&TxWrite<'_>> = writes.iter().collect();
        order.sort_by(|a, b| (a.ns.as_str(), a.key).cmp(&(b.ns.as_str(), b.key)));
        let mut client = self.client().await?;
        let lock_row = client.prepare_cached(LOCK_ROW).await.map_err(pg)?;
        let next_version = client
            .prepare_cached(NEXT_VERSION_LOCKED)
            .await
            .map_err(pg)?;
        let update = client.prepare_cached(UPDATE).await.map_err(pg)?;
        let insert_new = client.prepare_cached(INSERT_NEW).await.map_err(pg)?;
        let delete_row = client.prepare_cached(DELETE_ROW).await.map_err(pg)?;
        let tx = client.transaction().await.map_err(pg)?;
        // Phase 1: lock every row and check every condition.
        let mut rows = Vec::with_capacity(order.len());
        for w in &order {
            let (ns, key) = (w.ns, w.key);
            let row = tx
                .query_opt(&lock_row, &[&ns.as_str(), &key])
                .await
                .map_err(pg)?;
            let mut prev_version = 0;
            let mut current = None;
            if let Some(r) = &row {
                let exp: Option<SystemTime> = r.try_get(1).map_err(pg)?;
                prev_version = from_i64(r.try_get(2).map_err(pg)?);
                if self.opts.live(exp) && !matches!(w.expect, Expect::Any) {
                    let stored: &[u8] = r
                        .try_get(0)
                        .map_err(|e| StoreError::corrupt(ns, key, e.to_string()))?;
                    let (v, version) = self.sealer.open(ns, key, exp, stored)?;
                    self.opts.check_mark(ns, key, version)?;
                    current = Some(v);
                }
            }
            if !w.expect.holds(current.as_deref().map(Vec::as_slice)) {
                // Dropping the transaction rolls it back.
                return Ok(false);
            }
            rows.push((row.is_some(), prev_version));
        }
        // Phase 2: write.
        let mut written = Vec::new();
        for (w, (row_exists, prev_version)) in order.iter().zip(rows) {
            let (ns, key) = (w.ns, w.key);
            let expires_at = normalize_expiry(w.expires_at);
            match (w.new, row_exists) {
                (Some(v), _) => {
                    let version = if RollbackMarks::tracks(ns) {
                        let floor = prev_version
                            .saturating_add(1)
                            .max(self.opts.mark(ns, key).saturating_add(1));
                        let r = tx
                            .query_one(&next_version, &[&to_i64(floor)])
                            .await
                            .map_err(pg)?;
                        from_i64(r.try_get(0).map_err(pg)?)
                    } else {
                        0
                    };
                    let stored = self.sealer.seal(ns, key, v, version, expires_at)?;
                    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
                        [&ns.as_str(), &key, &stored, &expires_at, &to_i64(version)];
                    if row_exists {
                        tx.execute(&update, &params).await.map_err(pg)?;
                    } else if tx.execute(&insert_new, &params).await.map_err(pg)? == 0 {
                        // Another replica inserted the key after our check: not atomic any
                        // more, so nothing is applied.
                        return Ok(false);
                    }
                    written.push((ns, key, version));
                }
                (None, true) => {
                    tx.execute(&delete_row, &[&ns.as_str(), &key])
                        .await
                        .map_err(pg)?;
                }
                (None, false) => {}
            }
        }
        tx.commit().await.map_err(pg)?;
        for w in writes {
            self.epochs.bump(w.ns);
        }
        if self.sealer.encrypts() {
            for (ns, key, v) in written {
                self.opts.observe(ns, key, Some(v), true).await?;
            }
        }
        Ok(true)
    }

    async fn purge_expired(&self) -> Result<u64, StoreError> {
        let now = self.opts.clock.now();
        let client = self.client().await?;
        client.execute(PURGE, &[&now]).await.map_err(pg)
    }
}
