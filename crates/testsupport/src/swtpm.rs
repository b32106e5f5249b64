//! A software TPM (`swtpm socket --tpm2`) on loopback for tpm2-tools and the TPM attester.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::net::free_port_pair;
use crate::process::Proc;

/// Whether every command in `tools` runs (`command -v`); otherwise [`crate::skip`] (prints
/// `SKIPPED`, or panics under `CI`) and `false`.
pub fn tools_or_skip(tools: &[&str]) -> bool {
    let have = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !have(t)).collect();
    if missing.is_empty() {
        return true;
    }
    crate::skip(&format!(
        "missing {missing:?} (bash scripts/setup.sh installs swtpm and tpm2-tools)"
    ));
    false
}

/// A running swtpm (killed and reaped on drop) with its state in a caller-owned directory.
#[derive(Debug)]
pub struct Swtpm {
    /// The process; its [`Proc::url`] is the TCTI.
    pub proc: Proc,
    /// The server port (the control channel is `port + 1`).
    pub port: u16,
}

impl Swtpm {
    /// Starts swtpm with its state in `state` (created if missing) on a free pair of loopback
    /// ports (server, control; `--flags not-need-init,startup-clear`) and waits until both ports
    /// accept connections. A port taken between probing and binding makes swtpm exit: it
    /// is retried on another pair, five times.
    ///
    /// # Panics
    /// When swtpm cannot be run or never listens.
    pub fn start(state: &Path) -> Swtpm {
        std::fs::create_dir_all(state).unwrap();
        for _ in 0..5 {
            let port = free_port_pair();
            let mut child = Command::new("swtpm")
                .args(["socket", "--tpm2", "--tpmstate"])
                .arg(format!("dir={}", state.display()))
                .args([
                    "--server",
                    &format!("type=tcp,port={port},bindaddr=127.0.0.1"),
                ])
                .args([
                    "--ctrl",
                    &format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1),
                ])
                .args(["--flags", "not-need-init,startup-clear"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("spawn swtpm: {e}"));
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break; // exited: port clash, try another pair
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                    && std::net::TcpStream::connect(("127.0.0.1", port + 1)).is_ok()
                {
                    let url = format!("swtpm:host=127.0.0.1,port={port}");
                    return Swtpm {
                        proc: Proc { child, url },
                        port,
                    };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("swtpm did not start");
    }

    /// The TCTI string: `swtpm:host=127.0.0.1,port=PORT`.
    pub fn tcti(&self) -> &str {
        &self.proc.url
    }

    /// Runs the tpm2-tools command `args[0]` with `args[1..]` in `dir` against this TPM; the
    /// output, whatever the exit status.
    ///
    /// # Panics
    /// When the command cannot be run.
    pub fn run(&self, dir: &Path, args: &[&str]) -> Output {
        Command::new(args[0])
            .args(&args[1..])
            .current_dir(dir)
            .env("TPM2TOOLS_TCTI", self.tcti())
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", args[0]))
    }
}
