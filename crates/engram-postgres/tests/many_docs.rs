//! Several documents written with their index entries in one statement
//! (`WriteTx::write_docs`), read back with one (`Reader::docs`), and the
//! documents a write transaction keeps once read (forgotten when it writes
//! them).

mod common;

use common::{database, open, space_name};
use engram_core::backend::{
    Backend, BackendExt, CollectionId, CollectionSpec, DocWrite, IndexEntry, IndexScan, Reader, StoredDoc,
};
use engram_core::keys::KeyRange;
use engram_core::names::CollectionName;

fn doc(id: &str, version: u64) -> StoredDoc {
    StoredDoc { id: id.into(), version, body: format!("{{\"v\":{version}}}"), expires_at_ms: None, updated_hlc: 1 }
}

fn entry(key: &str) -> IndexEntry {
    IndexEntry { index: 1, key: key.as_bytes().to_vec() }
}

/// (key, document id, version) of every entry of index 1, in key order.
fn index(reader: &dyn Reader, coll: CollectionId) -> Vec<(String, String, u64)> {
    let range = KeyRange::all();
    let scan = IndexScan { collection: coll, index: 1, range: &range, after: None, reverse: false, limit: 100 };
    let rows = reader.scan_index(&scan).expect("scan");
    rows.into_iter().map(|(k, d)| (String::from_utf8(k).expect("key"), d.id, d.version)).collect()
}

#[test]
fn documents_and_their_entries_are_written_and_deleted_together() {
    let Some(db) = database() else { return };
    let backend = open(&db);
    let name = CollectionName::new("c").expect("name");
    let coll = backend
        .write_with(move |tx| {
            let space = tx.insert_space(&space_name("many"), 1)?;
            tx.insert_collection(space, &name, &CollectionSpec::default())
        })
        .expect("collection");
    let (a1, b1) = (doc("a", 1), doc("b", 1));
    let (ea, eb) = ([entry("ka"), entry("shared")], [entry("kb")]);
    backend
        .write_with(move |tx| {
            let writes = [
                DocWrite { id: "a", doc: Some(&a1), old: &[], new: &ea },
                DocWrite { id: "b", doc: Some(&b1), old: &[], new: &eb },
            ];
            tx.write_docs(coll, &writes)
        })
        .expect("first write");
    let reader = backend.reader().expect("reader");
    let mut found = reader.docs(coll, &["a", "b", "missing"]).expect("docs");
    found.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(found, [doc("a", 1), doc("b", 1)]);
    let expected = [("ka", "a", 1), ("kb", "b", 1), ("shared", "a", 1)].map(|(k, d, v)| (k.into(), d.into(), v));
    assert_eq!(index(&*reader, coll), expected);
    drop(reader);

    // `a` moves from "ka" to "kc" and keeps "shared"; `b` goes with its entry.
    let a2 = doc("a", 2);
    let (old_a, new_a, old_b) = ([entry("ka"), entry("shared")], [entry("shared"), entry("kc")], [entry("kb")]);
    let seen = backend
        .write_with(move |tx| {
            let before = tx.doc(coll, "a")?.map(|d| d.version);
            let writes = [
                DocWrite { id: "a", doc: Some(&a2), old: &old_a, new: &new_a },
                DocWrite { id: "b", doc: None, old: &old_b, new: &[] },
            ];
            tx.write_docs(coll, &writes)?;
            // Read again in the same transaction: what it wrote, not what it kept.
            let after = (tx.doc(coll, "a")?.map(|d| d.version), tx.doc(coll, "b")?);
            tx.upsert_doc(coll, "a", "{\"v\":3}", None, 2)?;
            Ok((before, after, tx.doc(coll, "a")?.map(|d| d.version)))
        })
        .expect("second write");
    assert_eq!(seen, (Some(1), (Some(2), None), Some(3)));
    let reader = backend.reader().expect("reader");
    assert_eq!(reader.docs(coll, &["a", "b"]).expect("docs").iter().map(|d| d.version).collect::<Vec<_>>(), [3]);
    let expected = [("kc", "a", 3), ("shared", "a", 3)].map(|(k, d, v)| (k.into(), d.into(), v));
    assert_eq!(index(&*reader, coll), expected);
}

#[test]
fn a_document_kept_by_a_job_that_failed_is_read_again() {
    let Some(db) = database() else { return };
    let backend = open(&db);
    let name = CollectionName::new("c").expect("name");
    let coll = backend
        .write_with(move |tx| {
            let space = tx.insert_space(&space_name("kept"), 1)?;
            let coll = tx.insert_collection(space, &name, &CollectionSpec::default())?;
            tx.upsert_doc(coll, "d", "{\"v\":1}", None, 1)?;
            Ok(coll)
        })
        .expect("collection");
    // A job reads the document, writes it, then fails: its transaction is
    // rolled back, and the next one reads what is stored.
    let failed = backend.write_with(move |tx| {
        tx.doc(coll, "d")?;
        tx.upsert_doc(coll, "d", "{\"v\":2}", None, 2)?;
        tx.doc(coll, "d")?;
        Err::<(), _>(engram_core::Error::invalid("refused"))
    });
    assert!(failed.is_err());
    let version = backend.write_with(move |tx| Ok(tx.doc(coll, "d")?.map(|d| d.version))).expect("read");
    assert_eq!(version, Some(1));
}
