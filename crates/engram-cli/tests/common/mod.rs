//! Shared helpers: running the `engram` binary, and a server process that
//! is always killed, even when a test panics.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a server may take to print its listening line before the test gives up.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// The `engram` binary with a clean environment (no inherited ENGRAM_* settings).
pub fn engram() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_engram"));
    for var in ["ENGRAM_DATA_DIR", "ENGRAM_SERVER", "ENGRAM_LISTEN", "ENGRAM_LOG"] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Output of one CLI run, decoded.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Asserts exit code 0 and parses standard output as JSON.
    pub fn json(&self, what: &str) -> serde_json::Value {
        assert!(self.success(), "{what}: exit {:?}\nstdout: {}\nstderr: {}", self.code, self.stdout, self.stderr);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{what}: stdout is not JSON ({e}): {}", self.stdout))
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs `engram --data-dir DIR ARGS…` to completion.
pub fn cli(data_dir: &Path, args: &[&str]) -> Run {
    engram().arg("--data-dir").arg(data_dir).args(args).output().expect("the engram binary runs").into()
}

/// A running `engram serve`. Dropping it kills the process (SIGKILL) and reaps it.
pub struct ServerProcess {
    child: Child,
    /// `host:port` the server printed.
    pub addr: String,
    /// Time from spawning to the listening line.
    pub ready_after: Duration,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `engram serve` on `data_dir` on a free loopback port; its
    /// standard error goes to `log`. Panics if it is not ready in time.
    pub fn start(data_dir: &Path, log: &Path) -> Self {
        let log_file = std::fs::File::create(log).expect("create the server log file");
        let started = Instant::now();
        let mut child = engram()
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("spawn engram serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent && let Some(addr) = parse_listening(&line) {
                    let _ = tx.send(addr);
                    sent = true;
                }
            }
        });
        let mut server = Self { child, addr: String::new(), ready_after: Duration::ZERO, log: log.to_owned() };
        match rx.recv_timeout(READY_TIMEOUT) {
            Ok(addr) => {
                server.ready_after = started.elapsed();
                server.addr = addr;
                server
            }
            Err(_) => {
                server.kill();
                panic!("engram serve did not print its listening line; its log:\n{}", server.log_text());
            }
        }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The address in `engram listening on http://ADDR (…)`.
pub fn parse_listening(line: &str) -> Option<String> {
    let rest = line.strip_prefix("engram listening on http://")?;
    let addr = rest.split_whitespace().next()?;
    (!addr.is_empty()).then(|| addr.to_owned())
}

/// An HTTP agent that reports every status as a response, not an error.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(timeout)).build().into()
}
