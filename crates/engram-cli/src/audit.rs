//! `engram audit`: signing keys, signed checkpoints and receipts of a
//! space's log, and `verify`, which checks a store's logs and rows, a file
//! of published checkpoints and a receipt, given only the public key.

use crate::client::{Out, connect};
use clap::{Args, Subcommand};
use engram::{Engine, EngineConfig, Space};
use engram_core::audit::{Checkpoint, ConsistencyProof, PublicKey, Receipt, ReceiptEntry, SigningKey, hex};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Largest checkpoints or receipt file `verify` reads.
const AUDIT_FILE_BYTES_MAX: u64 = 256 * 1024 * 1024;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Write a new signing key (an Ed25519 seed, hex) to a file; print its public key.
    Keygen {
        /// The key file to create (never overwritten).
        out: PathBuf,
    },
    /// Print the public key of a key file (default: the data directory's audit.key).
    PublicKey {
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Print a signed checkpoint of a space's log (one JSON line; --append adds it to a file).
    Checkpoint {
        space: String,
        /// Of the log's first SIZE entries (default: all).
        #[arg(long)]
        size: Option<u64>,
        /// Append the checkpoint to this file (the published history).
        #[arg(long)]
        append: Option<PathBuf>,
    },
    /// Print a receipt: a change-log entry with its inclusion proof in a signed checkpoint.
    Receipt {
        space: String,
        position: u64,
        #[arg(long)]
        size: Option<u64>,
    },
    /// Verify: each space's chain and stored rows (the data directory, or
    /// --database), published checkpoints and a receipt under a public key.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The signer's public key (64 hex characters).
    #[arg(long)]
    pub public_key: Option<String>,
    /// A file of published checkpoints (JSON, one per line).
    #[arg(long)]
    pub checkpoints: Option<PathBuf>,
    /// A receipt file (JSON).
    #[arg(long)]
    pub receipt: Option<PathBuf>,
    /// Check this space only (default: all).
    #[arg(long)]
    pub space: Option<String>,
    /// A postgres:// URL to check instead of the data directory.
    #[arg(long)]
    pub database: Option<String>,
    /// Check only the files given (checkpoints, receipt): no store.
    #[arg(long)]
    pub offline: bool,
}

/// A checkpoint, receipt or consistency proof asked of a server or signed here.
pub enum AuditCall {
    Checkpoint(Option<u64>),
    Receipt(u64, Option<u64>),
}

pub fn run(data_dir: &Path, server: Option<&str>, key: Option<&str>, cmd: AuditCommand) -> Result<(), String> {
    let out = match cmd {
        AuditCommand::Keygen { out } => {
            let k = engram_server::audit_key::generate_into(&out).map_err(|e| e.to_string())?;
            json!({"file": out, "public_key": k.public_key(), "key_id": k.key_id()})
        }
        AuditCommand::PublicKey { key_file } => {
            let k = read_key(data_dir, key_file.as_deref())?;
            json!({"public_key": k.public_key(), "key_id": k.key_id()})
        }
        AuditCommand::Checkpoint { space, size, append } => {
            let client = connect(data_dir, server, key, "audit")?;
            let c = client.audit(data_dir, &space, AuditCall::Checkpoint(size))?;
            if let Some(path) = append {
                append_line(&path, &c)?;
            }
            println!("{}", serde_json::to_string(&c).expect("JSON prints"));
            return Ok(());
        }
        AuditCommand::Receipt { space, position, size } => {
            let client = connect(data_dir, server, key, "audit")?;
            client.audit(data_dir, &space, AuditCall::Receipt(position, size))?
        }
        AuditCommand::Verify(a) => match server {
            Some(url) => verify_remote(url, key, &a)?,
            None => verify(data_dir, &a)?,
        },
    };
    println!("{}", serde_json::to_string_pretty(&out).expect("JSON prints"));
    Ok(())
}

/// The signing key of a data directory opened here (not created: a
/// server creates it at first start).
fn read_key(data_dir: &Path, file: Option<&Path>) -> Result<SigningKey, String> {
    let path = file.map_or_else(|| data_dir.join(engram_server::audit_key::AUDIT_KEY_FILE), Path::to_path_buf);
    if !path.exists() {
        return Err(format!(
            "no audit key at {}; `engram serve` creates one, or `engram audit keygen`",
            path.display()
        ));
    }
    engram_server::audit_key::load(data_dir, Some(&path)).map_err(|e| e.to_string())
}

/// Answers an audit call on an engine opened here, signing with the data
/// directory's key.
pub fn call_local(engine: &Engine, data_dir: &Path, space: &str, call: AuditCall) -> Out {
    let key = read_key(data_dir, None)?;
    let space = engine.space(space).map_err(|e| e.to_string())?;
    let sign = |head: &engram::TreeHead| {
        Checkpoint::sign_now(&key, space.name(), space.id(), head.tree_size, &head.root, &head.head_hash)
    };
    let value = match call {
        AuditCall::Checkpoint(size) => serde_json::to_value(sign(&space.audit_head(size).map_err(|e| e.to_string())?)),
        AuditCall::Receipt(position, size) => {
            let (entry, head, proof) = space.audit_inclusion(position, size).map_err(|e| e.to_string())?;
            serde_json::to_value(Receipt {
                entry: ReceiptEntry::of(&entry),
                checkpoint: sign(&head),
                inclusion_proof: proof.iter().map(|h| hex(h)).collect(),
            })
        }
    };
    Ok(value.expect("JSON serializes"))
}

/// The server route of an audit call.
pub fn http_path(space: &str, call: &AuditCall) -> String {
    let space = crate::client::enc(space);
    let size = |s: &Option<u64>| s.map(|n| format!("?size={n}")).unwrap_or_default();
    match call {
        AuditCall::Checkpoint(s) => format!("/v1/spaces/{space}/audit/checkpoint{}", size(s)),
        AuditCall::Receipt(p, s) => format!("/v1/spaces/{space}/changes/{p}/receipt{}", size(s)),
    }
}

fn append_line(path: &Path, value: &Value) -> Result<(), String> {
    use std::io::Write;
    let io = |e: std::io::Error| format!("appending to {}: {e}", path.display());
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(io)?;
    writeln!(f, "{}", serde_json::to_string(value).expect("JSON prints")).map_err(io)?;
    f.sync_all().map_err(io)
}

fn read_file(path: &Path) -> Result<String, String> {
    let len = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?.len();
    if len > AUDIT_FILE_BYTES_MAX {
        return Err(format!("{} is larger than {AUDIT_FILE_BYTES_MAX} bytes", path.display()));
    }
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Every check asked for; the first failure is the error (and the exit status).
fn verify(data_dir: &Path, a: &VerifyArgs) -> Result<Value, String> {
    let key = a.public_key.as_deref().map(PublicKey::from_hex).transpose().map_err(|e| e.to_string())?;
    let need_key = || key.clone().ok_or_else(|| "--public-key is needed to check signatures".to_owned());
    let mut out = serde_json::Map::new();
    let checkpoints = match &a.checkpoints {
        Some(path) => parse_checkpoints(path)?,
        None => Vec::new(),
    };
    if !checkpoints.is_empty() {
        let k = need_key()?;
        for c in &checkpoints {
            c.verify(&k).map_err(|e| format!("{}: {e}", c.space))?;
        }
        out.insert("checkpoints_signed".into(), json!(checkpoints.len()));
    }
    if let Some(path) = &a.receipt {
        let receipt: Receipt =
            serde_json::from_str(&read_file(path)?).map_err(|e| format!("{}: not a receipt: {e}", path.display()))?;
        receipt.verify(&need_key()?).map_err(|e| format!("the receipt fails: {e}"))?;
        out.insert("receipt".into(), json!({"position": receipt.entry.position, "verified": true}));
    }
    if !a.offline {
        let engine = open_store(data_dir, a.database.as_deref())?;
        let spaces = match &a.space {
            Some(s) => vec![s.clone()],
            None => engine.spaces().map_err(|e| e.to_string())?.into_iter().map(|s| s.name).collect(),
        };
        // Every space is checked, and every failure reported, not just the first.
        let (mut reports, mut failures) = (Vec::new(), Vec::new());
        for name in &spaces {
            let space = match engine.space(name) {
                Ok(s) => s,
                Err(e) => {
                    failures.push(format!("space {name}: {e}"));
                    continue;
                }
            };
            let report = space.audit_rows().map_err(|e| format!("space {name}: {e}"));
            let published = check_published(&space, &checkpoints);
            match (report, published) {
                (Ok(report), Ok(n)) => reports.push(json!({"space": name, "report": report, "checkpoints_matched": n})),
                (report, published) => failures.extend(report.err().into_iter().chain(published.err())),
            }
        }
        if !failures.is_empty() {
            engine.close();
            return Err(failures.join("\n"));
        }
        engine.close();
        out.insert("spaces".into(), Value::Array(reports));
    }
    out.insert("ok".into(), json!(true));
    Ok(Value::Object(out))
}

/// Without database access: each published checkpoint must be a prefix of
/// the server's log now, by a consistency proof the server signs.
fn verify_remote(url: &str, key: Option<&str>, a: &VerifyArgs) -> Result<Value, String> {
    let public = PublicKey::from_hex(a.public_key.as_deref().ok_or("--public-key is needed with --server")?)
        .map_err(|e| e.to_string())?;
    let path = a.checkpoints.as_ref().ok_or("--checkpoints is needed with --server")?;
    let client = crate::client::Remote::new(url, key.map(str::to_owned));
    let mut proved = Vec::new();
    for c in parse_checkpoints(path)? {
        if a.space.as_ref().is_some_and(|s| *s != c.space) {
            continue;
        }
        c.verify(&public).map_err(|e| format!("{}: {e}", c.space))?;
        let route = format!("/v1/spaces/{}/audit/consistency?old={}", crate::client::enc(&c.space), c.tree_size);
        let answer = client.get(&route).map_err(|e| {
            format!(
                "space {}: change {}: the server cannot prove its log holds the published checkpoint's \
                 entries: {e} (the history was cut short or rewritten)",
                c.space, c.tree_size
            )
        })?;
        let proof: ConsistencyProof = serde_json::from_value(answer.clone()).map_err(|e| e.to_string())?;
        let now: Checkpoint = serde_json::from_value(answer["checkpoint"].clone()).map_err(|e| e.to_string())?;
        if now.space_id != c.space_id {
            return Err(format!("space {}: the space was deleted and created again since the checkpoint", c.space));
        }
        proof
            .verify(&public, &c, &now)
            .map_err(|e| format!("space {}: change {}: {e} (the history was rewritten)", c.space, c.tree_size))?;
        proved.push(json!({"space": c.space, "tree_size": c.tree_size, "now": now.tree_size}));
    }
    Ok(json!({"ok": true, "consistent": proved}))
}

fn parse_checkpoints(path: &Path) -> Result<Vec<Checkpoint>, String> {
    read_file(path)?
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| format!("{} line {}: not a checkpoint: {e}", path.display(), i + 1))
        })
        .collect()
}

/// Checks each published checkpoint of `space` against the log: the same
/// tree of that size must still be there (else the history was rewritten).
fn check_published(space: &Space, checkpoints: &[Checkpoint]) -> Result<usize, String> {
    let mine = checkpoints.iter().filter(|c| c.space == space.name() && c.space_id == space.id());
    let mut n = 0;
    for c in mine {
        let head = space.audit_head(Some(c.tree_size)).map_err(|e| {
            format!(
                "space {}: change {}: the published checkpoint of {} entries no longer matches the log: {e}",
                c.space, c.tree_size, c.tree_size
            )
        })?;
        let root = c.root().map_err(|e| e.to_string())?;
        if head.root != root || head.head_hash != c.head().map_err(|e| e.to_string())? {
            return Err(format!(
                "space {}: change {}: the log's first {} entries differ from the published checkpoint \
                 (the history was rewritten)",
                c.space, c.tree_size, c.tree_size
            ));
        }
        n += 1;
    }
    Ok(n)
}

/// The store, opened here without background work (nothing is purged or
/// indexed while it is checked).
fn open_store(data_dir: &Path, database: Option<&str>) -> Result<Engine, String> {
    const NEVER: Duration = Duration::from_secs(100 * 365 * 86_400);
    let quiet = |mut c: EngineConfig| {
        c.purge_interval = NEVER;
        c.index_interval = NEVER;
        c.holder_command = "engram audit verify".into();
        c
    };
    let Some(url) = database else {
        if !data_dir.join(engram::datadir::DB_FILE).is_file() {
            return Err(format!("{} is not an Engram data directory", data_dir.display()));
        }
        return Engine::open(quiet(EngineConfig::dir(data_dir)))
            .map_err(|e| format!("{e} (stop the server first, or run POST /v1/spaces/{{space}}/audit/verify on it)"));
    };
    let backend = engram_postgres::PostgresBackend::open(engram_postgres::PostgresOptions::new(url))
        .map_err(|e| e.to_string())?;
    Engine::with_backend(Arc::new(backend), Arc::new(engram::SystemClock), quiet(EngineConfig::memory()))
        .map_err(|e| e.to_string())
}
