//! The tamper test: a data directory with every kind of data and a
//! published checkpoint per space, then 1,000 random tamperings of its
//! SQLite file (one byte of a stored document or change-log row, a deleted
//! entry, two entries swapped), each restored afterwards. `engram audit
//! verify` must fail on every one and name the position tampered with.
//!
//! What it covers: document rows' id, collection, version and body, and
//! every column of a change-log row. A document's expiry and write stamp
//! are not hashed into the log (documented), so they are not tampered with.

use engram::{AppendRequest, EdgeInput, Engine, EngineConfig, EventInput, FactInput, MessageInput, NodeRef, Term};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::types::Value as Sql;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

const TAMPERINGS: usize = 1_000;

fn engram(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_engram"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("ENGRAM_SERVER")
        .output()
        .expect("the engram binary runs")
}

/// Writes documents, patches, deletes, edges, facts, events and queue
/// messages into two spaces.
fn populate(dir: &Path) {
    let engine = Engine::open(EngineConfig::dir(dir)).expect("open");
    for name in ["acme", "other"] {
        engine.create_space(name).expect("space");
        let s = engine.space(name).expect("space");
        let docs =
            (0..40).map(|i| (format!("d{i:02}"), json!({"n": i, "text": format!("note {i} of {name}")}))).collect();
        s.bulk_put("notes", docs, None).expect("bulk");
        for i in 0..10 {
            s.patch("notes", &format!("d{i:02}"), json!({"seen": true}), Default::default()).expect("patch");
        }
        for i in 30..35 {
            s.delete("notes", &format!("d{i:02}"), Default::default()).expect("delete");
        }
        s.transaction(|b| {
            b.put("people", "ann", json!({"name": "Ann"}));
            b.put("people", "bob", json!({"name": "Bob"}));
            b.link(EdgeInput::new(NodeRef::new("people", "ann"), "knows", NodeRef::new("people", "bob")));
            b.assert_fact(FactInput::new(Term::node("people", "ann"), "likes", Term::value(json!("tea"))));
            b.append("ann/episodes", AppendRequest::new(vec![EventInput::new("met", json!({"who": "bob"}))]));
            b.enqueue("jobs", MessageInput::new(json!({"task": "summarize"})));
            Ok(())
        })
        .expect("transaction");
    }
    engine.close();
}

fn copy_files(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("dir") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("engram.db") {
            std::fs::copy(entry.path(), to.join(&name)).expect("copy");
        }
    }
}

/// One tampering applied, and the position the verifier must name.
struct Tampered {
    what: String,
    position: i64,
}

/// Positions of a space's entries (space id, position).
fn entries(c: &rusqlite::Connection) -> Vec<(i64, i64)> {
    let mut st = c.prepare("SELECT space_id, position FROM changes ORDER BY space_id, position").expect("prepare");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).expect("query").map(|r| r.expect("row")).collect()
}

/// One byte of a value changed (it stays a value of its type; integers
/// stay non-negative). `None` when the value has no byte to change.
fn flip(rng: &mut StdRng, v: Sql) -> Option<Sql> {
    match v {
        Sql::Integer(i) => {
            let byte = rng.random_range(0..7u32);
            let x = rng.random_range(1..=255i64) << (8 * byte);
            Some(Sql::Integer(i ^ x))
        }
        Sql::Blob(mut b) if !b.is_empty() => {
            let at = rng.random_range(0..b.len());
            b[at] ^= rng.random_range(1..=255u8);
            Some(Sql::Blob(b))
        }
        Sql::Text(t) if !t.is_empty() => {
            let mut bytes = t.into_bytes();
            let at = rng.random_range(0..bytes.len());
            let old = bytes[at];
            bytes[at] = loop {
                let c = rng.random_range(b'!'..=b'~');
                if c != old {
                    break c;
                }
            };
            Some(Sql::Text(String::from_utf8(bytes).expect("ASCII test data")))
        }
        _ => None,
    }
}

/// Changes one byte of one column of a change-log entry.
fn tamper_entry(c: &rusqlite::Connection, rng: &mut StdRng) -> Option<Tampered> {
    const COLUMNS: [&str; 11] = [
        "space_id",
        "position",
        "hlc",
        "op",
        "collection",
        "doc_id",
        "version",
        "content_hash",
        "hash",
        "actor",
        "request_id",
    ];
    let all = entries(c);
    let (space, pos) = all[rng.random_range(0..all.len())];
    let col = COLUMNS[rng.random_range(0..COLUMNS.len())];
    let old: Sql = c
        .query_row(&format!("SELECT {col} FROM changes WHERE space_id = ?1 AND position = ?2"), [space, pos], |r| {
            r.get(0)
        })
        .expect("read");
    let new = flip(rng, old)?;
    let sql = format!("UPDATE changes SET {col} = ?1 WHERE space_id = ?2 AND position = ?3");
    c.execute(&sql, rusqlite::params![new, space, pos]).ok()?;
    Some(Tampered { what: format!("one byte of {col} of entry {space}/{pos}"), position: pos })
}

/// Changes one byte of one column of a stored document; the position to
/// name is the document's last change.
fn tamper_doc(c: &rusqlite::Connection, rng: &mut StdRng) -> Option<Tampered> {
    const COLUMNS: [&str; 4] = ["coll_id", "id", "version", "body"];
    let mut st = c
        .prepare(
            "SELECT d.coll_id, d.id, c.space_id, c.name FROM docs d JOIN collections c ON c.id = d.coll_id \
             ORDER BY d.coll_id, d.id",
        )
        .expect("prepare");
    let docs: Vec<(i64, String, i64, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    let (coll, id, space, name) = docs[rng.random_range(0..docs.len())].clone();
    let last: i64 = c
        .query_row(
            "SELECT max(position) FROM changes WHERE space_id = ?1 AND collection = ?2 AND doc_id = ?3",
            rusqlite::params![space, name, id],
            |r| r.get(0),
        )
        .expect("its last change");
    let col = COLUMNS[rng.random_range(0..COLUMNS.len())];
    let old: Sql = c
        .query_row(
            &format!("SELECT {col} FROM docs WHERE coll_id = ?1 AND id = ?2"),
            rusqlite::params![coll, id],
            |r| r.get(0),
        )
        .expect("read");
    let new = flip(rng, old)?;
    let sql = format!("UPDATE docs SET {col} = ?1 WHERE coll_id = ?2 AND id = ?3");
    c.execute(&sql, rusqlite::params![new, coll, id]).ok()?;
    Some(Tampered { what: format!("one byte of {col} of document {name}/{id}"), position: last })
}

fn delete_entry(c: &rusqlite::Connection, rng: &mut StdRng) -> Option<Tampered> {
    let all = entries(c);
    let (space, pos) = all[rng.random_range(0..all.len())];
    c.execute("DELETE FROM changes WHERE space_id = ?1 AND position = ?2", [space, pos]).ok()?;
    Some(Tampered { what: format!("entry {space}/{pos} deleted"), position: pos })
}

fn swap_entries(c: &rusqlite::Connection, rng: &mut StdRng) -> Option<Tampered> {
    let all = entries(c);
    let (space, a) = all[rng.random_range(0..all.len())];
    let same: Vec<i64> = all.iter().filter(|(s, p)| *s == space && *p != a).map(|(_, p)| *p).collect();
    let b = same[rng.random_range(0..same.len())];
    let swap = "UPDATE changes SET position = ?3 WHERE space_id = ?1 AND position = ?2";
    c.execute(swap, [space, a, -1]).ok()?;
    c.execute(swap, [space, b, a]).ok()?;
    c.execute(swap, [space, -1, b]).ok()?;
    Some(Tampered { what: format!("entries {space}/{a} and {space}/{b} swapped"), position: a.min(b) })
}

/// Whether `text` names `change {position}` (not a longer number).
fn names(text: &str, position: i64) -> bool {
    let needle = format!("change {position}");
    text.match_indices(&needle).any(|(i, _)| !text[i + needle.len()..].starts_with(|c: char| c.is_ascii_digit()))
}

#[test]
fn every_tampering_is_detected_with_its_position() {
    let root = tempfile::tempdir().expect("tempdir");
    let pristine = root.path().join("pristine");
    populate(&pristine);
    let key_file = root.path().join("audit.key");
    let out = engram(&pristine, &["audit", "keygen", key_file.to_str().expect("path")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::copy(&key_file, pristine.join("audit.key")).expect("key into the data directory");
    let public: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let public = public["public_key"].as_str().expect("public key").to_owned();
    let published: PathBuf = root.path().join("checkpoints.jsonl");
    for space in ["acme", "other"] {
        let out = engram(&pristine, &["audit", "checkpoint", space, "--append", published.to_str().expect("path")]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let verify = |dir: &Path| {
        engram(dir, &["audit", "verify", "--public-key", &public, "--checkpoints", published.to_str().expect("path")])
    };
    let ok = verify(&pristine);
    assert!(ok.status.success(), "the untouched directory verifies: {}", String::from_utf8_lossy(&ok.stderr));

    let work = root.path().join("work");
    std::fs::create_dir_all(&work).expect("work dir");
    let mut rng = StdRng::seed_from_u64(0xA0D1_7000);
    let (mut done, mut kinds) = (0, [0usize; 4]);
    while done < TAMPERINGS {
        copy_files(&pristine, &work);
        let kind = rng.random_range(0..100);
        let tampered = {
            let c = rusqlite::Connection::open(work.join("engram.db")).expect("open the data file");
            match kind {
                0..40 => tamper_entry(&c, &mut rng).map(|t| (0, t)),
                40..70 => tamper_doc(&c, &mut rng).map(|t| (1, t)),
                70..85 => delete_entry(&c, &mut rng).map(|t| (2, t)),
                _ => swap_entries(&c, &mut rng).map(|t| (3, t)),
            }
        };
        // A tampering SQLite itself refuses (a duplicate key) or with no
        // byte to change is drawn again.
        let Some((k, t)) = tampered else { continue };
        let out = verify(&work);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "tampering #{done} ({}) went undetected", t.what);
        assert!(
            names(&err, t.position),
            "tampering #{done} ({}): the error does not name change {}: {err}",
            t.what,
            t.position
        );
        kinds[k] += 1;
        done += 1;
    }
    eprintln!(
        "{TAMPERINGS} tamperings detected with their position: {} entry bytes, {} document bytes, {} deleted entries, {} swaps",
        kinds[0], kinds[1], kinds[2], kinds[3]
    );
}
