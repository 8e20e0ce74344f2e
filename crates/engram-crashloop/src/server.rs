//! The server under test: `engram serve` as a child process on a free
//! loopback port, killed with SIGKILL on demand and always on drop.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How often the server under test saves search-index progress.
const INDEX_SAVE_INTERVAL_MS: u64 = 100;

/// Delays between a webhook message's attempts, in seconds: short, so that
/// retries happen within a cycle and kills land among them.
const WEBHOOK_RETRY_SCHEDULE: &str = "0.05,0.1,0.2,0.5,1,1,1";
/// Longest one webhook delivery may take (the receiver answers at once).
const WEBHOOK_TIMEOUT_MS: u64 = 2_000;

/// When the object collector runs and what it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collection {
    /// `--objects-grace-seconds`: unreferenced bytes are kept this long
    /// (an upload must commit within half of it).
    pub grace_seconds: u64,
    /// `--objects-collect-seconds`: between collector passes (the first
    /// runs at the start).
    pub collect_seconds: u64,
    /// `--objects-transfer-timeout-seconds`: the longest an upload may
    /// take; an upload's temporary copy is collected only after it (plus
    /// the grace), since an upload in flight may still move it into place.
    pub transfer_seconds: u64,
}

impl Collection {
    /// During the cycles: the collector runs at every start and every
    /// second, so kills land in its passes and content comes back while it
    /// is due; the grace is far longer than any upload of a cycle (a server
    /// lives well under a second, and its uploads with it), so nothing in
    /// flight is collected, and the half-grace deadline is never near.
    /// The transfer bound is far above any upload of a cycle.
    pub const CYCLES: Self = Self { grace_seconds: 8, collect_seconds: 1, transfer_seconds: 60 };
    /// At the end (no uploads run): everything unreferenced, temporary
    /// copies of killed uploads included, is collected within seconds.
    pub const FINISH: Self = Self { grace_seconds: 2, collect_seconds: 1, transfer_seconds: 1 };
}

/// How long a server may take to print its listening line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes of the server log quoted when it fails to start.
const LOG_TAIL_BYTES: usize = 4_000;

/// Environment variables of the `engram` binary that must not leak in from
/// the caller's environment.
const ENGRAM_VARS: [&str; 7] = [
    "ENGRAM_DATA_DIR",
    "ENGRAM_SERVER",
    "ENGRAM_LISTEN",
    "ENGRAM_LOG",
    "ENGRAM_OBJECTS",
    "ENGRAM_OBJECTS_GRACE_SECONDS",
    "ENGRAM_OBJECTS_COLLECT_SECONDS",
];

/// A running `engram serve`. Dropping it kills the process and reaps it.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// `host:port` the server printed.
    pub addr: String,
    /// Time from spawning to the listening line.
    pub ready_after: Duration,
    log: PathBuf,
}

impl Server {
    /// Starts `bin serve` on `data_dir`, listening on a free loopback port;
    /// its standard error is appended to `log`.
    pub fn start(bin: &Path, data_dir: &Path, log: &Path) -> Result<Self, String> {
        Self::start_on(bin, data_dir, None, log)
    }

    /// [`Server::start`] with the data in the PostgreSQL database `database`
    /// when given (`engram serve --database`).
    pub fn start_on(bin: &Path, data_dir: &Path, database: Option<&str>, log: &Path) -> Result<Self, String> {
        Self::start_with(bin, data_dir, database, log, Collection::CYCLES)
    }

    /// [`Server::start_on`] with the object collector's timing.
    pub fn start_with(
        bin: &Path,
        data_dir: &Path,
        database: Option<&str>,
        log: &Path,
        collection: Collection,
    ) -> Result<Self, String> {
        let started = Instant::now();
        let (mut server, rx) = Self::spawn(bin, data_dir, database, log, collection)?;
        match rx.recv_timeout(READY_TIMEOUT) {
            Ok(addr) => {
                server.addr = addr;
                server.ready_after = started.elapsed();
                Ok(server)
            }
            Err(_) => {
                server.kill();
                Err(format!(
                    "engram serve did not print its listening line; the end of its log:\n{}",
                    server.log_tail()
                ))
            }
        }
    }

    /// Starts `bin serve` like [`Server::start`] and kills it with SIGKILL
    /// `after` the spawn, ready or not: a crash while opening the data
    /// directory. Returns whether it was ready before the kill.
    pub fn kill_while_starting(
        bin: &Path,
        data_dir: &Path,
        database: Option<&str>,
        log: &Path,
        after: Duration,
    ) -> Result<bool, String> {
        let (mut server, rx) = Self::spawn(bin, data_dir, database, log, Collection::CYCLES)?;
        std::thread::sleep(after);
        server.kill();
        Ok(rx.try_recv().is_ok())
    }

    /// Spawns the process; the receiver gets the address it listens on.
    fn spawn(
        bin: &Path,
        data_dir: &Path,
        database: Option<&str>,
        log: &Path,
        collection: Collection,
    ) -> Result<(Self, mpsc::Receiver<String>), String> {
        let log_file = File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| format!("opening {}: {e}", log.display()))?;
        let mut cmd = Command::new(bin);
        ENGRAM_VARS.iter().for_each(|v| {
            cmd.env_remove(v);
        });

        let mut child = cmd
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(database.into_iter().flat_map(|url| ["--database", url]))
            .arg("--listen")
            .arg("127.0.0.1:0")
            // Save search-index progress often, so kills land during and
            // between saves and reopening exercises load plus replay.
            .arg("--index-save-interval-ms")
            .arg(INDEX_SAVE_INTERVAL_MS.to_string())
            // The webhook receiver is on loopback, in the crash loop.
            .arg("--webhook-allow-private")
            .args(["--webhook-retry-schedule", WEBHOOK_RETRY_SCHEDULE])
            .args(["--webhook-timeout-ms", &WEBHOOK_TIMEOUT_MS.to_string()])
            .args(["--objects-grace-seconds", &collection.grace_seconds.to_string()])
            .args(["--objects-collect-seconds", &collection.collect_seconds.to_string()])
            .args(["--objects-transfer-timeout-seconds", &collection.transfer_seconds.to_string()])
            .env("ENGRAM_ADMIN_KEY", crate::http::ADMIN_KEY)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .map_err(|e| format!("spawning {} serve: {e}", bin.display()))?;
        let stdout = child.stdout.take().ok_or("the child's stdout is not piped")?;
        let rx = watch_stdout(stdout);
        Ok((Self { child, addr: String::new(), ready_after: Duration::ZERO, log: log.to_owned() }, rx))
    }

    /// `http://host:port`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process with SIGKILL and waits for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the process with SIGTERM (in-flight requests finish, search
    /// indexes are saved) and waits for it, at most `within`; kills it if
    /// it is still running then. Returns whether it exited by itself.
    pub fn terminate(&mut self, within: Duration) -> bool {
        let sent = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        if !sent.is_ok_and(|s| s.success()) {
            self.kill();
            return false;
        }
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.exited() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        false
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// The last few kilobytes of the server's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let cut = text.len().saturating_sub(LOG_TAIL_BYTES);
        let start = (cut..text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
        text[start..].to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads the child's standard output on a thread (to the end, so the child
/// never blocks on a full pipe) and sends the first listening address.
fn watch_stdout(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
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
    rx
}

/// The address in `engram listening on http://ADDR (…)`.
pub fn parse_listening(line: &str) -> Option<String> {
    let rest = line.strip_prefix("engram listening on http://")?;
    let addr = rest.split_whitespace().next()?;
    (!addr.is_empty()).then(|| addr.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_line_is_parsed() {
        let line = "engram listening on http://127.0.0.1:40123 (data directory: /tmp/x)";
        assert_eq!(parse_listening(line).as_deref(), Some("127.0.0.1:40123"));
        assert_eq!(parse_listening("engram listening on http://"), None);
        assert_eq!(parse_listening("something else"), None);
    }

    #[test]
    fn a_missing_binary_is_an_error() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let err = Server::start(&tmp.path().join("no-such-engram"), &tmp.path().join("data"), &tmp.path().join("log"))
            .expect_err("there is no binary");
        assert!(err.contains("spawning"), "{err}");
    }
}
