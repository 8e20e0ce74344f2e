//! A PostgreSQL server of a test's own: `initdb` and `pg_ctl` on a free
//! port in a directory the test gives (under `target/`), which outage
//! tests stop and start. Never the machine's shared server.
//!
//! As root (PostgreSQL refuses to run as root), the server runs as the
//! `postgres` user through `runuser`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A disposable server; stopped (immediately) when dropped.
pub struct DisposablePostgres {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// The directory of PostgreSQL's server programs, if installed.
fn server_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> =
        std::fs::read_dir("/usr/lib/postgresql").ok()?.flatten().map(|e| e.path().join("bin")).collect();
    versions.sort();
    versions.into_iter().rev().find(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

impl DisposablePostgres {
    /// Creates and starts a server under `base`; `None` (with a message)
    /// when PostgreSQL's programs are missing, except under `CI`, where
    /// that fails.
    pub fn start(base: &Path) -> Option<Self> {
        let Some(bin) = server_bin() else {
            assert!(std::env::var_os("CI").is_none(), "initdb/pg_ctl not found under /usr/lib/postgresql in CI");
            eprintln!("skipped: no PostgreSQL server programs (initdb, pg_ctl) under /usr/lib/postgresql");
            return None;
        };
        let as_postgres = is_root();
        let dir = server_dir(base, as_postgres);
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let me = Self { data: dir.path().join("data"), _dir: dir, bin, port, as_postgres };
        let mut initdb = me.command("initdb");
        initdb.arg("-D").arg(&me.data).args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]);
        run(&mut initdb, "initdb");
        me.start_again();
        Some(me)
    }

    /// A streaming replica of this server (`pg_basebackup -R`, hot
    /// standby), started on a port of its own under `base`.
    pub fn start_replica(&self, base: &Path) -> Self {
        let dir = server_dir(base, self.as_postgres);
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let replica = Self {
            data: dir.path().join("data"),
            _dir: dir,
            bin: self.bin.clone(),
            port,
            as_postgres: self.as_postgres,
        };
        let mut backup = replica.command("pg_basebackup");
        backup
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-D"])
            .arg(&replica.data)
            .args(["-R", "-X", "stream", "--no-sync"]);
        run(&mut backup, "pg_basebackup");
        replica.start_again();
        replica
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        c.stdin(Stdio::null()).stdout(Stdio::null());
        c
    }

    /// The maintenance database's URL.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts (again) and waits until it accepts connections.
    pub fn start_again(&self) {
        let opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.data.display());
        let log = self.data.with_file_name("server.log");
        let mut c = self.command("pg_ctl");
        c.arg("-D").arg(&self.data).args(["-o", &opts, "-w", "-t", "60", "-l"]).arg(log).arg("start");
        run(&mut c, "pg_ctl start");
    }

    /// Stops at once, as a crash would: no checkpoint, connections cut;
    /// the next start runs crash recovery.
    pub fn stop_immediately(&self) {
        let mut c = self.command("pg_ctl");
        c.arg("-D").arg(&self.data).args(["-m", "immediate", "-w", "stop"]);
        run(&mut c, "pg_ctl stop");
    }
}

impl Drop for DisposablePostgres {
    fn drop(&mut self) {
        let mut c = self.command("pg_ctl");
        let _ = c.arg("-D").arg(&self.data).args(["-m", "immediate", "-w", "stop"]).stderr(Stdio::null()).status();
    }
}

/// A fresh directory under `base` for the server's files; as root, owned by
/// `postgres`, and under the system's temporary directory instead when
/// `postgres` cannot reach `base` (a clone under a private home).
fn server_dir(base: &Path, as_postgres: bool) -> tempfile::TempDir {
    std::fs::create_dir_all(base).expect("base directory");
    let make = |under: &Path| tempfile::Builder::new().prefix("pg-").tempdir_in(under).expect("server directory");
    let dir = make(base);
    if !as_postgres {
        return dir;
    }
    run(Command::new("chown").arg("postgres").arg(dir.path()), "chown");
    let reachable = Command::new("runuser")
        .args(["-u", "postgres", "--", "test", "-w"])
        .arg(dir.path())
        .status()
        .is_ok_and(|s| s.success());
    if reachable {
        return dir;
    }
    let dir = make(&std::env::temp_dir());
    run(Command::new("chown").arg("postgres").arg(dir.path()), "chown");
    dir
}

fn run(c: &mut Command, what: &str) {
    let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what} failed: {}", String::from_utf8_lossy(&out.stderr));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As root, a base the `postgres` user cannot reach (a private home)
    /// falls back to the system's temporary directory.
    #[test]
    fn the_server_directory_is_reachable_by_the_server_user() {
        if !is_root() {
            return;
        }
        let private = tempfile::tempdir().expect("private base");
        std::fs::set_permissions(private.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
        let dir = server_dir(&private.path().join("target"), true);
        let ok = Command::new("runuser").args(["-u", "postgres", "--", "test", "-w"]).arg(dir.path()).status();
        assert!(ok.is_ok_and(|s| s.success()), "{} is not writable by postgres", dir.path().display());
    }
}
