//! `engram copy`: opens the two storages below the engine (a data
//! directory under its lock, or a PostgreSQL database), copies spaces with
//! a progress line on standard error, prints a summary as JSON.

use crate::args::CopyArgs;
use engram::copy::{CopyProgress, SpaceCopy, copy_space, copyable_spaces};
use engram::datadir::{DB_FILE, DataDir};
use engram_core::backend::Backend;
use engram_core::names::SpaceName;
use std::io::Write;
use std::path::Path;

/// An open storage; a data directory stays locked while this lives, so no
/// server starts on it during the copy (and none is copied under its feet).
struct Store {
    backend: Box<dyn Backend>,
    _dir: Option<DataDir>,
}

pub fn run(a: &CopyArgs) -> Result<(), String> {
    let from = open(&a.from, true)?;
    let to = open(&a.to, false)?;
    let spaces = match &a.space {
        Some(s) => vec![SpaceName::new(s).map_err(|e| e.to_string())?],
        None => copyable_spaces(from.backend.as_ref()).map_err(|e| e.to_string())?,
    };
    let mut copied: Vec<SpaceCopy> = Vec::new();
    for name in &spaces {
        let done = copy_space(from.backend.as_ref(), to.backend.as_ref(), name, &mut show);
        eprintln!();
        copied.push(done.map_err(|e| format!("copying space {name}: {e}"))?);
    }
    let summary = serde_json::json!({ "spaces": copied, "verified": true });
    println!("{}", serde_json::to_string_pretty(&summary).expect("JSON prints"));
    Ok(())
}

/// A `postgres://` URL, or a data directory (the source's must hold a database).
fn open(location: &str, source: bool) -> Result<Store, String> {
    if location.starts_with("postgres://") || location.starts_with("postgresql://") {
        let opts = engram_postgres::PostgresOptions::new(location);
        let backend = engram_postgres::PostgresBackend::open(opts).map_err(|e| e.to_string())?;
        return Ok(Store { backend: Box::new(backend), _dir: None });
    }
    let path = Path::new(location);
    if source && !path.join(DB_FILE).is_file() {
        return Err(format!("{location} is not an Engram data directory (no {DB_FILE})"));
    }
    let dir = DataDir::open(path, "engram copy").map_err(|e| e.to_string())?;
    let backend = engram_sqlite::SqliteBackend::open(&dir.db_path(), engram_sqlite::SqliteOptions::default())
        .map_err(|e| e.to_string())?;
    dir.sync().map_err(|e| e.to_string())?;
    Ok(Store { backend: Box::new(backend), _dir: Some(dir) })
}

/// One line, rewritten in place.
fn show(p: &CopyProgress) {
    let mut err = std::io::stderr().lock();
    // A progress line that fails to print is not worth failing the copy.
    let _ = write!(
        err,
        "\rspace {}: log {}/{}, collections {}/{}, documents written {}   ",
        p.space, p.log_done, p.log_total, p.collections_done, p.collections_total, p.docs_written
    );
    let _ = err.flush();
}
