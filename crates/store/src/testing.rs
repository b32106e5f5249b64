//! Test support: a throw-away PostgreSQL server on loopback (feature `testing`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::StoreError;

/// A PostgreSQL server started for a test: `initdb` in a temporary directory, `postgres`
/// listening on 127.0.0.1 at a free port (and a Unix socket inside the directory), trust
/// authentication for the `postgres` role. When the test runs as root the server runs as the
/// `postgres` OS user. Dropping it stops the server (immediate shutdown) and removes the
/// directory.
///
/// Binaries are looked up in `$REMITS_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`.
pub struct PostgresServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    child: Option<Child>,
    run_as: Option<String>,
    extra_args: Vec<String>,
}

impl std::fmt::Debug for PostgresServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresServer")
            .field("dir", &self.dir.path())
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

fn err(reason: impl Into<String>) -> StoreError {
    StoreError::Backend {
        backend: "postgres test server",
        reason: reason.into(),
    }
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// The directory holding `initdb`, `pg_ctl`, `postgres` and `pg_isready`, if any.
pub fn find_bin_dir() -> Option<PathBuf> {
    let has_all = |d: &Path| {
        ["initdb", "pg_ctl", "postgres", "pg_isready"]
            .iter()
            .all(|b| d.join(b).is_file())
    };
    if let Some(d) = std::env::var_os("REMITS_PG_BIN").map(PathBuf::from) {
        return has_all(&d).then_some(d);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_all(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, d)| d)
}

#[cfg(unix)]
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the effective user of this process.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[cfg(not(unix))]
fn running_as_root() -> bool {
    false
}

/// uid and gid of an OS user, from /etc/passwd.
fn user_ids(user: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        if f.next()? != user {
            return None;
        }
        let _pw = f.next()?;
        Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
    })
}

fn free_port() -> Result<u16, StoreError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| err(format!("bind: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| err(format!("local_addr: {e}")))
}

impl PostgresServer {
    /// Starts a server (blocking, about a second). `Ok(None)` when the PostgreSQL binaries are
    /// not installed and the environment variable `CI` is unset (a `SKIPPED: ...` line is
    /// printed); with `CI` set a missing installation is an error.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] or [`StoreError::Backend`] when `initdb` or the server fails to start, or
    /// when the binaries are missing while `CI` is set.
    pub fn start() -> Result<Option<Self>, StoreError> {
        Self::start_with(None)
    }

    /// Like [`PostgresServer::start`], with TLS on: `cert_pem` (chain) and `key_pem` (private
    /// key) for the server, and TCP connections without TLS rejected (`hostnossl … reject`).
    ///
    /// # Errors
    ///
    /// As [`PostgresServer::start`].
    pub fn start_tls(cert_pem: &[u8], key_pem: &[u8]) -> Result<Option<Self>, StoreError> {
        Self::start_with(Some((cert_pem, key_pem)))
    }

    fn start_with(tls: Option<(&[u8], &[u8])>) -> Result<Option<Self>, StoreError> {
        let Some(bin) = find_bin_dir() else {
            let msg =
                "PostgreSQL binaries not found (apt-get install postgresql, or set REMITS_PG_BIN)";
            if std::env::var_os("CI").is_some() {
                return Err(err(msg));
            }
            println!("SKIPPED: {msg}");
            return Ok(None);
        };
        let dir = tempfile::Builder::new()
            .prefix("remits-pg-")
            .tempdir()
            .map_err(|e| err(format!("temporary directory: {e}")))?;
        let run_as = running_as_root().then(|| "postgres".to_owned());
        if let Some(user) = &run_as {
            let (uid, gid) = user_ids(user)
                .ok_or_else(|| err(format!("running as root and no OS user {user:?}")))?;
            #[cfg(unix)]
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .map_err(io("chown", dir.path()))?;
            #[cfg(not(unix))]
            let _ = (uid, gid);
        }
        let mut server = PostgresServer {
            dir,
            bin,
            port: 0,
            child: None,
            run_as,
            extra_args: Vec::new(),
        };
        server.initdb()?;
        if let Some((cert, key)) = tls {
            server.enable_tls(cert, key)?;
        }
        // The port is free when chosen but another process may take it before postgres binds:
        // retry a few times.
        let mut last = None;
        for _ in 0..5 {
            server.port = free_port()?;
            match server.launch() {
                Ok(()) => return Ok(Some(server)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| err("could not start")))
    }

    /// `postgresql://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Stops the server (fast shutdown: open connections are closed) and starts it again on
    /// the same port and data directory, as a database restart in production would.
    ///
    /// # Errors
    ///
    /// As [`PostgresServer::start`].
    pub fn restart(&mut self) -> Result<(), StoreError> {
        self.stop();
        self.launch()
    }

    /// Stops the server (fast shutdown) without removing its data; [`PostgresServer::restart`]
    /// or dropping follows.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let stopped = self
                .command("pg_ctl")
                .arg("-D")
                .arg(self.data_dir())
                .args(["stop", "-m", "fast", "-w", "-t", "30"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !stopped {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut c = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={user}"))
                    .arg(format!("--regid={user}"))
                    .arg("--init-groups")
                    .arg("--")
                    .arg(path);
                c
            }
            None => Command::new(path),
        };
        c.current_dir(self.dir.path());
        c
    }

    fn initdb(&self) -> Result<(), StoreError> {
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(self.data_dir())
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| err(format!("run initdb: {e}")))?;
        if !out.status.success() {
            return Err(err(format!(
                "initdb failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(())
    }

    fn enable_tls(&mut self, cert: &[u8], key: &[u8]) -> Result<(), StoreError> {
        let owner = match &self.run_as {
            Some(user) => Some(user_ids(user).ok_or_else(|| err(format!("no OS user {user:?}")))?),
            None => None,
        };
        for (name, data) in [("server.crt", cert), ("server.key", key)] {
            let p = self.dir.path().join(name);
            std::fs::write(&p, data).map_err(io("write", &p))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                    .map_err(io("chmod", &p))?;
                if let Some((uid, gid)) = owner {
                    std::os::unix::fs::chown(&p, Some(uid), Some(gid)).map_err(io("chown", &p))?;
                }
            }
            #[cfg(not(unix))]
            let _ = owner;
        }
        let hba = self.data_dir().join("pg_hba.conf");
        std::fs::write(
            &hba,
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\n",
        )
        .map_err(io("write", &hba))?;
        let d = self.dir.path();
        self.extra_args = vec![
            "-c".into(),
            "ssl=on".into(),
            "-c".into(),
            format!("ssl_cert_file={}", d.join("server.crt").display()),
            "-c".into(),
            format!("ssl_key_file={}", d.join("server.key").display()),
        ];
        Ok(())
    }

    fn launch(&mut self) -> Result<(), StoreError> {
        let log_path = self.dir.path().join(format!("postgres-{}.log", self.port));
        let log = std::fs::File::create(&log_path).map_err(io("create", &log_path))?;
        let log2 = log.try_clone().map_err(io("dup", &log_path))?;
        // setpriv execs postgres in place, so the child is the postmaster itself.
        let mut child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-p", &self.port.to_string(), "-h", "127.0.0.1", "-k"])
            .arg(self.dir.path())
            .args(["-c", "max_connections=200", "-c", "shared_buffers=32MB"])
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| err(format!("run postgres: {e}")))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(err(format!("postgres exited ({status}): {log}")));
            }
            let ready = self
                .command("pg_isready")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                    "-q",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(err("postgres did not become ready within 60 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let stopped = self
                .command("pg_ctl")
                .arg("-D")
                .arg(self.data_dir())
                .args(["stop", "-m", "immediate", "-w", "-t", "10"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !stopped {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}
