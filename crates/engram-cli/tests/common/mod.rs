//! Shared helpers: running the `engram` binary, and a server process that
//! is always killed, even when a test panics (the crash loop's guard).

#![allow(dead_code, unused_imports)]

/// An HTTP agent that reports every status as a response, not an error.
pub use engram_crashloop::http::agent;
pub use engram_crashloop::server::READY_TIMEOUT;
use engram_crashloop::server::Server;
use std::ops::Deref;
use std::path::Path;
use std::process::{Command, Output, Stdio};

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

/// A running `engram serve`: the crash loop's server guard (SIGKILL and
/// reap on drop), started on this crate's binary.
pub struct ServerProcess(Server);

impl ServerProcess {
    /// Starts `engram serve` on `data_dir` on a free loopback port; its
    /// standard error goes to `log`. Panics if it is not ready in time.
    pub fn start(data_dir: &Path, log: &Path) -> Self {
        let bin = Path::new(env!("CARGO_BIN_EXE_engram"));
        Self(Server::start(bin, data_dir, log).unwrap_or_else(|e| panic!("{e}")))
    }
}

impl Deref for ServerProcess {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.0
    }
}

/// A running `engram serve --database URL` (killed and reaped on drop).
pub struct DatabaseServer {
    child: std::process::Child,
    /// `http://host:port`.
    pub base: String,
}

impl Drop for DatabaseServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `engram serve` on `data_dir` with its data in the PostgreSQL
/// database `url`, the admin key `admin` and the `extra` options, on a free
/// loopback port; waits for its listening line.
pub fn serve_on_database(data_dir: &Path, url: &str, admin: &str, extra: &[&str]) -> DatabaseServer {
    serve_with_admin(data_dir, Some(url), admin, extra)
}

/// Starts `engram serve` on `data_dir` (with its data in the PostgreSQL
/// database `url` when given, else embedded) with the admin key `admin`
/// and the `extra` options, on a free loopback port.
pub fn serve_with_admin(data_dir: &Path, url: Option<&str>, admin: &str, extra: &[&str]) -> DatabaseServer {
    use std::io::{BufRead, BufReader};
    let mut cmd = engram();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--admin-key", admin]).args(extra).arg("--data-dir").arg(data_dir);
    if let Some(url) = url {
        cmd.args(["--database", url]);
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("spawn engram serve");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    // Owned from here on, so a failed start still kills and reaps it.
    let mut served = DatabaseServer { child, base: String::new() };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut lines = Vec::new();
    loop {
        assert!(std::time::Instant::now() < deadline, "engram serve did not start: {lines:?}");
        let mut line = String::new();
        assert!(out.read_line(&mut line).expect("read stdout") > 0, "engram serve exited: {lines:?}");
        if let Some(addr) = line.split("listening on ").nth(1).and_then(|r| r.split_whitespace().next()) {
            served.base = addr.to_owned();
            return served;
        }
        lines.push(line);
    }
}
