//! Child processes for tests: killed (SIGKILL) and reaped on drop, and started only once they
//! answer.

use std::io::BufRead;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use crate::net;

/// A child process killed (SIGKILL) and reaped on drop, with the URL (or TCTI) it serves.
#[derive(Debug)]
pub struct Proc {
    /// The process.
    pub child: Child,
    /// Where it answers: `http://127.0.0.1:PORT`, or what the caller put there.
    pub url: String,
}

impl Proc {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `host:port` of [`Proc::url`].
    pub fn addr(&self) -> &str {
        net::hostport(&self.url)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What "ready" means for [`wait_ready`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// `GET /healthz` answers 200 (for `https://` URLs: the port accepts a connection).
    Healthz,
    /// The port accepts a TCP connection.
    Tcp,
}

/// Why a process never became ready.
#[derive(Debug)]
pub enum NotReady {
    /// It exited first, with this status.
    Exited(ExitStatus),
    /// It did not answer within the deadline.
    Timeout,
}

/// Polls every 100 ms, for at most 60 s, until the server at `url` is ready per `probe`.
///
/// # Panics
/// When the child's status cannot be read.
pub fn wait_ready(child: &mut Child, url: &str, probe: Probe) -> Result<(), NotReady> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return Err(NotReady::Exited(st));
        }
        let ready = match probe {
            Probe::Healthz => net::healthz(url),
            Probe::Tcp => std::net::TcpStream::connect(net::hostport(url)).is_ok(),
        };
        if ready {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(NotReady::Timeout);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Spawns `cmd` and waits until it is ready at `url`; the returned [`Proc`] kills it on drop.
///
/// # Panics
/// When it cannot be spawned, exits early ("URL: exited early: STATUS") or is not ready
/// within 60 s ("URL did not become ready").
pub fn spawn_ready(cmd: &mut Command, url: &str, probe: Probe) -> Proc {
    let mut p = Proc {
        child: cmd.spawn().unwrap(),
        url: url.to_owned(),
    };
    match wait_ready(&mut p.child, url, probe) {
        Ok(()) => p,
        Err(NotReady::Exited(st)) => panic!("{url}: exited early: {st}"),
        Err(NotReady::Timeout) => panic!("{url} did not become ready"),
    }
}

/// Spawns `cmd`, whose stderr must be piped, and reads its stderr until a line announces where
/// it serves: `... on http://HOST:PORT` gives `HOST:PORT`, `... on unix:PATH (mode ...)` gives
/// `PATH` (as [`Proc::url`]). Later stderr lines are copied to the test's stderr, prefixed with
/// `name`.
///
/// # Panics
/// When it cannot be spawned or exits before announcing ("NAME exited before serving: STATUS").
pub fn spawn_announced(cmd: &mut Command, name: &'static str) -> Proc {
    let mut child = cmd.spawn().unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let at = loop {
        let Some(Ok(line)) = lines.next() else {
            let st = child.wait().unwrap();
            panic!("{name} exited before serving: {st}");
        };
        if let Some(rest) = line.split(" on http://").nth(1) {
            break rest.trim().to_owned();
        }
        if let Some(rest) = line.split(" on unix:").nth(1) {
            break rest
                .split(" (mode")
                .next()
                .unwrap_or(rest)
                .trim()
                .to_owned();
        }
    };
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            eprintln!("{name}: {l}");
        }
    });
    Proc { child, url: at }
}
