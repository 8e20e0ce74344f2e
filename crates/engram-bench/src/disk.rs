//! The disk: the raw fdatasync probe, scratch directories and which
//! filesystem they are on.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Bytes written before each sync of the probe.
const PROBE_WRITE_BYTES: usize = 100;

/// How the probe writes before each sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeWrite {
    /// Appends, so the file grows (like a log, or a WAL before it wraps).
    Append,
    /// Rewrites the same bytes at offset 0 (no size change to record).
    Overwrite,
}

/// Opens the probe's file in `dir`, fresh.
pub fn probe_file(dir: &Path, how: ProbeWrite) -> File {
    let name = match how {
        ProbeWrite::Append => "fdatasync-append.probe",
        ProbeWrite::Overwrite => "fdatasync-overwrite.probe",
    };
    OpenOptions::new().create(true).write(true).truncate(true).open(dir.join(name)).expect("create the probe file")
}

/// `count` times: write 100 bytes, then `File::sync_data` (fdatasync).
pub fn fdatasync_loop(file: &mut File, how: ProbeWrite, count: usize) {
    let buf = [b'x'; PROBE_WRITE_BYTES];
    for _ in 0..count {
        match how {
            ProbeWrite::Append => file.write_all(&buf).expect("append to the probe file"),
            ProbeWrite::Overwrite => file.write_all_at(&buf, 0).expect("overwrite the probe file"),
        }
        file.sync_data().expect("fdatasync the probe file");
    }
}

/// A fresh, empty directory `name` under `parent`.
pub fn fresh_dir(parent: &Path, name: &str) -> PathBuf {
    let dir = parent.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("clear an old scratch directory");
    }
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// Removes a scratch directory (a failure only leaves garbage behind).
pub fn remove_dir(dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        eprintln!("warning: could not remove {}: {e}", dir.display());
    }
}

/// The mount holding `path`: (mount point, filesystem type, device), from
/// the longest matching entry of `/proc/self/mounts`.
pub fn filesystem_of(path: &Path) -> Option<(String, String, String)> {
    let path = path.canonicalize().ok()?;
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f.len() >= 3).then(|| (f[1].to_owned(), f[2].to_owned(), f[0].to_owned()))
        })
        .filter(|(mount, _, _)| path.starts_with(mount))
        .max_by_key(|(mount, _, _)| mount.len())
}

/// Flushes every dirty page of the machine (`sync`), untimed, so one side's
/// leftover writeback does not land inside the other side's measurement.
pub fn settle() {
    match std::process::Command::new("sync").status() {
        Ok(s) if s.success() => {}
        other => eprintln!("warning: `sync` did not run cleanly ({other:?}); measurements may overlap writeback"),
    }
}
