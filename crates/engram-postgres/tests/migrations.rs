//! Migrations against a real server: applied once, checked at every open,
//! refused when altered, newer or foreign, and safe to run from two
//! servers starting at the same moment.

mod common;

use common::{database, open, options, raw};
use engram_core::ErrorKind;
use engram_postgres::PostgresBackend;
use std::sync::{Arc, Barrier};

fn ledger(client: &mut postgres::Client) -> Vec<(i32, String)> {
    let rows =
        client.query("SELECT version, name FROM engram.schema_migrations ORDER BY version", &[]).expect("ledger");
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

#[test]
fn migrating_twice_applies_once() {
    let Some(db) = database() else { return };
    drop(open(&db));
    drop(open(&db));
    assert_eq!(ledger(&mut raw(&db)), [(1, "0001_initial".to_owned()), (2, "0002_change_actors".to_owned())]);
}

#[test]
fn two_servers_starting_together_do_not_race() {
    let Some(db) = database() else { return };
    let barrier = Arc::new(Barrier::new(4));
    let opened: Vec<_> = (0..4)
        .map(|_| {
            let (barrier, opts) = (Arc::clone(&barrier), options(&db));
            std::thread::spawn(move || {
                barrier.wait();
                PostgresBackend::open(opts).map(drop)
            })
        })
        .collect();
    for handle in opened {
        handle.join().expect("thread").expect("every concurrent open succeeds");
    }
    assert_eq!(ledger(&mut raw(&db)).len(), 2, "each migration once");
}

#[test]
fn an_altered_migration_is_refused() {
    let Some(db) = database() else { return };
    drop(open(&db));
    raw(&db).batch_execute("UPDATE engram.schema_migrations SET checksum = 'x'").expect("tamper");
    let e = PostgresBackend::open(options(&db)).expect_err("altered");
    assert_eq!(e.kind(), ErrorKind::Corrupted);
    assert!(e.message().contains("0001_initial"), "{e}");
}

#[test]
fn a_newer_format_is_refused() {
    let Some(db) = database() else { return };
    drop(open(&db));
    raw(&db).batch_execute("INSERT INTO engram.schema_migrations VALUES (9, 'future', 'x')").expect("bump");
    let e = PostgresBackend::open(options(&db)).expect_err("newer");
    assert_eq!(e.kind(), ErrorKind::UnsupportedFormat);
    assert!(e.message().contains("format v9; this build reads up to v2"), "{e}");
}

#[test]
fn a_schema_of_another_application_is_left_alone() {
    let Some(db) = database() else { return };
    raw(&db).batch_execute("CREATE SCHEMA engram; CREATE TABLE engram.theirs (x int)").expect("foreign");
    let e = PostgresBackend::open(options(&db)).expect_err("foreign");
    assert_eq!(e.kind(), ErrorKind::UnsupportedFormat);
    let n: i64 =
        raw(&db).query_one("SELECT count(*) FROM pg_tables WHERE schemaname = 'engram'", &[]).expect("count").get(0);
    assert_eq!(n, 1, "nothing was created beside their table");
}

#[test]
fn schemas_keep_engrams_apart_in_one_database() {
    let Some(db) = database() else { return };
    let a = open(&db);
    let b = PostgresBackend::open(engram_postgres::PostgresOptions { schema: "other".into(), ..options(&db) })
        .expect("second schema");
    use engram_core::backend::BackendExt;
    a.write_with(|tx| tx.insert_space(&common::space_name("only-in-a"), 1)).expect("write");
    use engram_core::backend::Backend;
    assert_eq!(a.reader().expect("reader").spaces().expect("spaces").len(), 1);
    assert!(b.reader().expect("reader").spaces().expect("spaces").is_empty());
}
